"""The development supervisor starts a crashed restartable child again (as systemd's
Restart=on-failure does in production) and leaves the others dead."""

from __future__ import annotations

import os
import signal
import sys
import time

from backupctl.dev.supervisor import StopFlag, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _wait_exited(supervisor: Supervisor) -> None:
    deadline = time.monotonic() + 10
    while supervisor.exited() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_killed_restartable_child_is_started_again() -> None:
    supervisor = Supervisor(StopFlag())
    try:
        child = supervisor.spawn("worker", SLEEPER, dict(os.environ), restart=True)
        first = child.proc.pid
        os.kill(first, signal.SIGKILL)
        _wait_exited(supervisor)
        assert supervisor._revive(child)
        assert child.proc.pid != first
        assert child.status() is None  # running again
        assert supervisor.exited() is None
    finally:
        supervisor.stop_all(timeout=5)


def test_a_child_without_restart_stays_dead() -> None:
    supervisor = Supervisor(StopFlag())
    try:
        child = supervisor.spawn("web", SLEEPER, dict(os.environ))
        os.kill(child.proc.pid, signal.SIGKILL)
        _wait_exited(supervisor)
        assert not supervisor._revive(child)
        assert supervisor.exited() is child
    finally:
        supervisor.stop_all(timeout=5)
