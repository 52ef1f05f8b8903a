"""Child processes of a development run: started in their own session, stopped in order.

Each child gets its own session so that Ctrl-C in the terminal reaches the supervisor
alone; the supervisor then stops the children in order (web, worker, then Redis). On
Linux each child also asks the kernel for SIGTERM should the supervisor die without
cleaning up (kill -9), so a crashed run never leaves servers behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess  # nosec B404
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

import click

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.2
# A child started with `restart=True` comes back after a crash, as systemd's
# Restart=on-failure does in production (there every 5 s, for as long as it takes:
# a worker that dies while Redis is down keeps coming back until Redis does).
RESTART_DELAY_SECONDS = 2.0


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once in the parent: the child, between fork and exec, only makes the call.
_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """`preexec_fn`: SIGTERM this child when the process that started it dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class StopRequested(Exception):  # noqa: N818  (control flow, not an error)
    """A signal asked the run to stop (raised between setup steps)."""


class StopFlag:
    """SIGINT, SIGTERM and SIGHUP set a flag; the run looks at it between steps.

    A flag rather than an exception from the handler: an exception could land in the
    middle of starting a child, and that child would then escape the shutdown.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        # os.write, not print: a buffered write here could re-enter one in progress.
        if self.requested:
            os.write(2, b"backupctl: still stopping, please wait...\n")
            return
        self.requested = True
        os.write(2, f"\nbackupctl: {signal.Signals(signum).name} received, stopping...\n".encode())

    def check(self) -> None:
        if self.requested:
            raise StopRequested


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    argv: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    restart: bool = False

    def status(self) -> int | None:
        """Exit status, or None while running. Does not reap: while the exited child is
        an unreaped zombie its pid, and so its process group id, cannot be reused, which
        makes signalling that group afterwards safe."""
        if self.proc.returncode is not None:
            return self.proc.returncode
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        try:
            result = os.waitid(os.P_PID, self.proc.pid, flags)
        except ChildProcessError:
            return self.proc.poll()
        if result is None:
            return None
        return result.si_status if result.si_code == os.CLD_EXITED else -result.si_status


class Supervisor:
    """Starts children, watches them, and stops every one of them."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.children: list[Child] = []

    def spawn(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], *, restart: bool = False
    ) -> Child:
        """Start a child; with `restart`, `watch` starts it again should it die."""
        child = Child(name, _start(argv, env), list(argv), dict(env), restart)
        self.children.append(child)
        return child

    def _revive(self, child: Child) -> bool:
        """Start a crashed restartable child again; False for the others."""
        if not child.restart or child.env is None:
            return False
        click.secho(
            f"backupctl: {child.name} exited (status {child.status()}); starting it again",
            fg="yellow",
            err=True,
        )
        _signal_group(child.proc.pid, signal.SIGKILL)  # whatever it left in its group
        child.proc.wait()
        time.sleep(RESTART_DELAY_SECONDS)
        if self.stop.requested:
            # Reaped: its group id may be anyone's now, so stop_all must not signal it.
            self.children.remove(child)
        else:
            child.proc = _start(child.argv, child.env)
        return True

    def exited(self) -> Child | None:
        for child in self.children:
            if child.status() is not None:
                return child
        return None

    def wait_for_ports(self, ports: Sequence[int], timeout: float) -> bool:
        """True once every port on 127.0.0.1 accepts connections; False on stop or death."""
        deadline = time.monotonic() + timeout
        waiting = list(ports)
        while waiting and time.monotonic() < deadline:
            if self.stop.requested or self.exited() is not None:
                return False
            waiting = [port for port in waiting if not _accepts(port)]
            if waiting:
                time.sleep(_POLL_SECONDS)
        return not waiting

    def watch(self) -> int:
        """Block until a stop is requested (0) or a child exits on its own (1); a
        restartable child that exits is started again instead."""
        while not self.stop.requested:
            child = self.exited()
            if child is not None and not self._revive(child):
                click.secho(
                    f"backupctl: {child.name} exited (status {child.status()}); "
                    "stopping everything",
                    fg="red",
                    err=True,
                )
                return 1
            time.sleep(_POLL_SECONDS)
        return 0

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM every child (newest first), wait, then SIGKILL what is left."""
        for child in reversed(self.children):
            if child.status() is None:
                _signal(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            while child.status() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if child.status() is None:
                click.echo(f"backupctl: {child.name} did not stop in time: killing it", err=True)
            # The whole process group: the child and whatever it left behind (workers of
            # a master that died). The child is not reaped yet, so the group id is ours.
            _signal_group(child.proc.pid, signal.SIGKILL)
            child.proc.wait()
        self.children.clear()


def _start(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # nosec B603
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,  # only a prctl call between fork and exec
    )


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound (SO_REUSEADDR, as gunicorn binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
