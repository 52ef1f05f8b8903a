"""A throw-away Tor client for the health check, when no SOCKS port is at hand.

The server's tor has `SocksPort 0` (it is no client for anyone), so `backupctl onion
health` starts a tor of its own in a temporary directory, with a SOCKS port on
127.0.0.1 chosen by tor, waits for it to bootstrap, and stops it afterwards. Going
through a separate client is also the honest test: the request travels the network as a
visitor's would.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stem.control import Listener

from onion.errors import TorStartError
from onion.tor import TorProcess

__all__ = ["private_client"]

_POLL_SECONDS = 0.25


@contextlib.contextmanager
def private_client(
    extra_torrc: str = "", timeout: float = 120.0, tor_binary: str | None = None
) -> Iterator[tuple[str, int]]:
    """A bootstrapped Tor client; yields its SOCKS (host, port).

    `timeout` bounds the start and the bootstrap together."""
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="backup-probe-") as tmp:
        tor = TorProcess(Path(tmp) / "tor", tor_binary)
        tor.start(
            {"SocksPort": "127.0.0.1:auto ExtendedErrors"}, extra=extra_torrc, timeout=timeout
        )
        try:
            controller = tor.controller()
            while "PROGRESS=100" not in controller.get_info("status/bootstrap-phase"):
                if time.monotonic() > deadline:
                    raise TorStartError(
                        f"the probe's tor did not bootstrap in {timeout:.0f}s: {tor.log_tail(3)}"
                    )
                time.sleep(_POLL_SECONDS)
            listeners = controller.get_listeners(Listener.SOCKS)
            if not listeners:
                raise TorStartError("the probe's tor opened no SOCKS port")
            host, port = listeners[0]
            yield host, int(port)
        finally:
            tor.stop()
