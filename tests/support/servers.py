"""Private Redis and PostgreSQL servers for the test suite, from Debian's packages.

Each runs in a temporary directory, listens on a unix socket (PostgreSQL also on a
free 127.0.0.1 port), and is stopped by PID at the end. TEST_REDIS_URL and
TEST_DATABASE_URL point the suite at existing servers instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backupctl.dev.private_redis import memory_args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout}s")


class RedisServer:
    """A redis-server on a unix socket in `directory`, with production's memory policy,
    which can be stopped and started again on the same socket (the fault tests take it
    down)."""

    def __init__(self, directory: Path, maxmemory: str = "256mb") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.maxmemory = maxmemory
        self.sock = directory / "redis.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.sock.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--unixsocket",
                str(self.sock),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
                *memory_args(self.maxmemory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self.sock.exists, 15, "redis-server")

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
        if self.proc is not None:
            self.proc.wait(10)
        self.proc = None

    def freeze(self) -> None:
        """Stopped, not dead: its socket still accepts connections, nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@contextmanager
def redis_server(directory: Path, maxmemory: str = "256mb") -> Iterator[str]:
    """A redis-server on a unix socket in `directory`, with production's memory policy;
    yields its URL."""
    server = RedisServer(directory, maxmemory)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL binaries missing: the test command installs `postgresql`")
    return Path(candidates[0]).parent


class PostgresCluster:
    """A private PostgreSQL cluster on 127.0.0.1:<free port> that can be stopped and
    started again on the same port and data (the fault tests take it down)."""

    def __init__(
        self, directory: Path, *, initdb: bool = True, settings: dict[str, str] | None = None
    ) -> None:
        """`initdb`: False leaves the data directory for the caller to fill (a standby's
        base backup, tests/support/replication.py); `settings`: more `-c` options."""
        self.bindir = _pg_bindir()
        self.settings = dict(settings or {})
        self.run_as: list[str] = []
        self.owned_tmp: Path | None = None
        if os.geteuid() == 0:
            # initdb refuses root: run the cluster as the postgres user, in a directory it
            # can reach (pytest's own temp tree is private to root).
            self.owned_tmp = Path(tempfile.mkdtemp(prefix="backup-pg-"))
            shutil.chown(self.owned_tmp, "postgres", "postgres")
            directory = self.owned_tmp
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.directory = directory
        self.data = directory / "data"
        directory.mkdir(parents=True, exist_ok=True)
        if initdb:
            self._initdb()
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _initdb(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "backup",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @property
    def server_url(self) -> str:
        return f"postgresql://backup@127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return (
            subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            ).returncode
            == 0
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *self.run_as,
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.directory}",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                *(
                    arg
                    for name, value in self.settings.items()
                    for arg in ("-c", f"{name}={value}")
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for(self.ready, 30, "postgres")

    def stop(self, signum: int = signal.SIGINT) -> None:
        """SIGINT: PostgreSQL's fast shutdown; SIGQUIT: immediate (as a crash would)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)
        if self.proc is not None:
            self.proc.wait(30)
        self.proc = None

    def createdb(self, name: str) -> str:
        subprocess.run(
            [
                str(self.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "backup",
                name,
            ],
            check=True,
        )
        return f"{self.server_url}/{name}"

    def remove(self) -> None:
        self.stop()
        if self.owned_tmp is not None:
            shutil.rmtree(self.owned_tmp, ignore_errors=True)


@contextmanager
def postgres_server(directory: Path) -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1:<free port>; yields its URL."""
    cluster = PostgresCluster(directory)
    try:
        cluster.start()
        yield cluster.createdb("backup_test")
    finally:
        cluster.remove()
