"""A tor process that we own: started from a torrc we write, stopped by its PID.

Used by `backupctl run` (development) and by the test suite's private Tor network. tor
is told to exit when its owner dies (`__OwningControllerProcess`), so a crashed owner
never leaves a tor behind, and its control port is a unix socket with cookie auth.

stem's first controller from the owning process sends TAKEOWNERSHIP: from then on tor
exits as soon as that connection closes. We keep that one connection open for tor's
whole life (`self.owner`) and use it, so ownership follows the connection, whichever
way our process ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess  # nosec B404
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stem import SocketError
from stem.connection import AuthenticationFailure
from stem.control import Controller

from onion.errors import TorNotFoundError, TorStartError

__all__ = ["TorProcess", "find_tor", "torrc_text"]

_POLL_SECONDS = 0.1
_STOP_TIMEOUT_SECONDS = 10.0
TorrcValue = str | int | Sequence[str]


def find_tor(binary: str | None = None) -> str:
    """The tor executable: `binary` if given, else `tor` on PATH or Debian's /usr/sbin/tor."""
    for candidate in (binary,) if binary else ("tor", "/usr/sbin/tor"):
        found = shutil.which(candidate)
        if found:
            return found
    raise TorNotFoundError(
        "tor is not installed (Debian: apt-get install tor); the interfaces stay on 127.0.0.1"
    )


def torrc_text(options: Mapping[str, TorrcValue]) -> str:
    """Options to torrc lines; a sequence value repeats the option. Refuses newlines."""
    lines = []
    for key, value in options.items():
        values = [value] if isinstance(value, str | int) else list(value)
        for item in values:
            text = str(item)
            if "\n" in text or "\r" in text or "\n" in key:
                raise TorStartError(f"torrc option {key} contains a line break")
            lines.append(f"{key} {text}")
    return "\n".join(lines) + "\n"


class TorProcess:
    """One tor: its data directory, torrc and control socket live in `data_dir`."""

    def __init__(self, data_dir: Path, tor_binary: str | None = None) -> None:
        self.data_dir = data_dir
        self.binary = find_tor(tor_binary)
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner: Controller | None = None

    @property
    def control_socket(self) -> Path:
        return self.data_dir / "control.sock"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "tor.log"

    def start(
        self, options: Mapping[str, TorrcValue], *, extra: str = "", timeout: float = 60.0
    ) -> None:
        """Write the torrc (`options`, then the `extra` torrc text) and start tor; return
        once its control socket answers."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)  # tor refuses a data directory others can read
        base: dict[str, TorrcValue] = {
            "DataDirectory": str(self.data_dir),
            "ControlSocket": str(self.control_socket),
            "CookieAuthentication": "1",
            "Log": f"notice file {self.log_file}",
            "SafeLogging": "1",
            "__OwningControllerProcess": str(os.getpid()),
        }
        base.update(options)
        torrc = self.data_dir / "torrc"
        torrc.write_text(torrc_text(base) + extra)
        with contextlib.suppress(FileNotFoundError):
            self.control_socket.unlink()  # a stale socket of a killed tor
        self.proc = subprocess.Popen(  # nosec B603
            [self.binary, "--defaults-torrc", "/dev/null", "-f", str(torrc)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches the owner, not tor
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TorStartError(f"tor exited ({self.proc.returncode}): {self.log_tail()}")
            if self.control_socket.is_socket():
                try:
                    self.owner = self._connect()
                except (SocketError, AuthenticationFailure):
                    pass
                else:
                    # Ownership now follows this connection (stem took it). Left in the
                    # file, the option would come back at the next RELOAD, and the next
                    # stem Controller this process opens would take ownership in turn -
                    # and stop tor when it closes.
                    owned = {k: v for k, v in base.items() if k != "__OwningControllerProcess"}
                    torrc.write_text(torrc_text(owned) + extra)
                    return
            time.sleep(_POLL_SECONDS)
        self.stop()
        raise TorStartError(f"tor did not open its control socket within {timeout}s")

    def controller(self) -> Controller:
        """The owning controller (cookie auth over the unix socket). Do not close it."""
        if self.owner is None or not self.owner.is_alive():
            raise TorStartError("tor is not running")
        return self.owner

    def _connect(self) -> Controller:
        controller = Controller.from_socket_file(str(self.control_socket))
        try:
            controller.authenticate()
        except BaseException:
            controller.close()
            raise
        return controller

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Close the owning connection, SIGINT by PID (twice: a relay would otherwise wait
        ShutdownWaitLength), then SIGKILL if it does not exit in time."""
        proc, self.proc = self.proc, None
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.close()  # tor exits on its own when its owning connection closes
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # tor exits at once on a second signal
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
