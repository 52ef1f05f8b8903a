"""`backupctl run` as a real process on a fresh instance: it starts everything, serves
both interfaces, and on SIGTERM (or Ctrl-C) leaves nothing running behind it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from redis import Redis
from rq import Worker

from backupctl.cli import main
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import SUBMISSION_KEY_FILE
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT = 120.0


def _descendants(root: int) -> set[int]:
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


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _refuses(port: int) -> bool:
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
            except requests.ConnectionError:
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


@pytest.fixture
def instance() -> Iterator[Path]:
    """A short path: gpg-agent's sockets live in the GnuPG homes inside the instance
    (no /run/user/<uid> here), and pytest's tmp_path is too deep for a socket name."""
    root = Path(tempfile.mkdtemp(prefix="bk-run-"))
    path = root / "instance"
    yield path
    kill_agent(path / "gnupg")
    kill_agent(path / "dev-workstation-gnupg")
    shutil.rmtree(root, ignore_errors=True)


def _env(source_port: int, journalist_port: int) -> dict[str, str]:
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
    )
    return env


def test_run_from_nothing_then_stop(instance: Path, tmp_path: Path) -> None:
    source_port, journalist_port = free_port(), free_port()
    env = _env(source_port, journalist_port)
    sock = instance / "run" / "redis.sock"

    run = Run(instance, env, tmp_path / "run1.log")
    try:
        run.wait_until_serving(source_port, journalist_port)

        # A private Redis on a unix socket in the instance, with no TCP port.
        assert sock.is_socket()
        redis = Redis(unix_socket_path=str(sock))
        assert redis.config_get("port") == {"port": "0"}
        deadline = time.monotonic() + 30
        while not Worker.all(connection=redis) and time.monotonic() < deadline:
            time.sleep(0.25)
        [worker] = Worker.all(connection=redis)
        assert worker.queue_names() == ["backup"]
        redis.close()

        # A development key: public half on the server, secret half beside it, apart.
        fingerprint = (instance / SUBMISSION_KEY_FILE).read_text().strip()
        assert len(fingerprint) == 40
        server = GpgKeyring(instance / "gnupg")
        assert server.has_public_key(fingerprint)
        assert not server.has_secret_key(fingerprint)
        dev_home = instance / "dev-workstation-gnupg"
        assert GpgKeyring(dev_home, server=False).has_secret_key(fingerprint)
        assert (instance / "dev-workstation-passphrase").stat().st_mode & 0o777 == 0o600
        out = run.output
        assert "DEVELOPMENT SUBMISSION KEY" in out
        assert f"http://127.0.0.1:{source_port}/" in out
        assert f"http://127.0.0.1:{journalist_port}/" in out
        assert f"backupctl --instance {instance} admin create USERNAME --role admin" in out
        assert "127.0.0.1 only" in out

        children = _descendants(run.proc.pid)
        assert len(children) >= 6  # redis, 2 gunicorn masters + workers, the RQ worker
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.kill()
    assert not [pid for pid in children if _alive(pid)], run.output
    assert not sock.exists()
    assert _refuses(source_port)
    assert _refuses(journalist_port)
    assert "stopped." in run.output

    # A second run keeps the key, reuses the instance, and stops on Ctrl-C too.
    rerun = Run(instance, env, tmp_path / "run2.log")
    try:
        rerun.wait_until_serving(source_port, journalist_port)
        assert (instance / SUBMISSION_KEY_FILE).read_text().strip() == fingerprint
        assert "Generated a development submission key" not in rerun.output
        assert "DEVELOPMENT SUBMISSION KEY" in rerun.output  # the warning, every time
        children = _descendants(rerun.proc.pid)
        assert rerun.stop(signal.SIGINT) == 0
    finally:
        rerun.kill()
    assert not [pid for pid in children if _alive(pid)], rerun.output
    assert not sock.exists()


def test_second_run_on_the_same_instance_is_refused(instance: Path, tmp_path: Path) -> None:
    source_port, journalist_port = free_port(), free_port()
    run = Run(instance, _env(source_port, journalist_port), tmp_path / "run1.log")
    try:
        run.wait_until_serving(source_port, journalist_port)
        other = subprocess.run(
            [sys.executable, "-m", "backupctl", "run", "--instance", str(instance)],
            cwd=REPO,
            env=_env(free_port(), free_port()),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 1
        assert "another `backupctl run` is using" in other.stderr
        assert run.proc.poll() is None
        assert run.stop(signal.SIGTERM) == 0
    finally:
        run.kill()


def test_run_refuses_a_production_instance(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--instance", str(tmp_path / "instance")],
        env={"BACKUP_PRODUCTION": "1", "REDIS_URL": ""},
    )
    assert result.exit_code == 1
    assert "for development" in result.output
    assert not (tmp_path / "instance" / SUBMISSION_KEY_FILE).exists()
