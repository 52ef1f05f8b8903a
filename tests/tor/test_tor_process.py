"""A tor we start never outlives us: not after `stop()`, not after a `kill -9` of its
owner (the owning control connection closes, and tor exits by itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from onion.tor import TorProcess
from tests.support.product import REPO, alive

OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from onion.tor import TorProcess
    tor = TorProcess(Path(sys.argv[1]))
    tor.start({"DisableNetwork": "1", "SocksPort": "0"})
    print(tor.proc.pid, flush=True)
    time.sleep(300)
    """
)


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


class TestTorProcess:
    """Ownership of the tor processes the product and the suite start."""

    def test_stop_ends_tor(self) -> None:
        with tempfile.TemporaryDirectory(prefix="bk-tp-") as root:
            tor = TorProcess(Path(root) / "tor")
            tor.start({"DisableNetwork": "1", "SocksPort": "0"})
            assert tor.proc is not None
            pid = tor.proc.pid
            assert tor.controller().get_info("process/pid") == str(pid)
            tor.stop()
            assert _wait_dead(pid, 5)
            assert tor.proc is None

    def test_tor_exits_when_its_owner_is_killed(self) -> None:
        with tempfile.TemporaryDirectory(prefix="bk-tp-") as root:
            owner = subprocess.Popen(
                [sys.executable, "-c", OWNER, str(Path(root) / "tor")],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert owner.stdout is not None
                pid = int(owner.stdout.readline())
                assert alive(pid)
                owner.send_signal(signal.SIGKILL)
                owner.wait(10)
                assert _wait_dead(pid, 15), "tor outlived its owner"
            finally:
                if owner.poll() is None:
                    owner.kill()
                    owner.wait()
