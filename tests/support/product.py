"""`backupctl run` as a real subprocess, for tests that need the whole product running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0


def descendants(root: int) -> set[int]:
    """Every live process under `root`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Run:
    """One `backupctl run` subprocess and its log."""

    def __init__(self, instance: Path, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backupctl", "run", "--instance", str(instance)],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self, source_port: int, journalist_port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"backupctl run exited ({self.proc.returncode}):\n{self.output}")
            try:
                source = requests.get(f"http://127.0.0.1:{source_port}/", timeout=5)
                journalist = requests.get(
                    f"http://127.0.0.1:{journalist_port}/", timeout=5, allow_redirects=False
                )
            except (requests.ConnectionError, requests.Timeout):
                # Workers still importing the app on a loaded machine: ask again.
                time.sleep(0.25)
                continue
            assert source.status_code == 200, self.output
            assert 100 <= journalist.status_code < 600
            if "Ctrl-C stops everything" in self.output:
                return
            time.sleep(0.25)
        pytest.fail(f"backupctl run did not serve within {START_TIMEOUT}s:\n{self.output}")

    def stop(self, signum: int) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(60)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def make_instance_root() -> Path:
    """A short path: gpg-agent's sockets live in the GnuPG homes inside the instance
    (no /run/user/<uid> here), and pytest's tmp_path is too deep for a socket name."""
    return Path(tempfile.mkdtemp(prefix="bk-run-"))


def run_env(source_port: int, journalist_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "BACKUP_INSTANCE_DIR")
        and not k.startswith("TEST_")
    }
    env.update(
        BACKUP_SOURCE_PORT=str(source_port),
        BACKUP_JOURNALIST_PORT=str(journalist_port),
        BACKUP_SCRYPT_N="16",
        PYTHONUNBUFFERED="1",
        # No tor of its own: tests stay on 127.0.0.1 (tests/tor/ turns it on, pointed at
        # the private Tor network).
        BACKUP_DEV_TOR="0",
    )
    return env
