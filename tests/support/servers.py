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

from backupctl._redis import memory_args


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


@contextmanager
def redis_server(directory: Path, maxmemory: str = "256mb") -> Iterator[str]:
    """A redis-server on a unix socket in `directory`, with production's memory policy;
    yields its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--logfile",
            str(directory / "redis.log"),
            *memory_args(maxmemory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(sock.exists, 15, "redis-server")
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(10)


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL binaries missing: the test command installs `postgresql`")
    return Path(candidates[0]).parent


@contextmanager
def postgres_server(directory: Path) -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1:<free port>; yields its URL."""
    bindir = _pg_bindir()
    run_as: list[str] = []
    owned_tmp = None
    if os.geteuid() == 0:
        # initdb refuses root: run the cluster as the postgres user, in a directory it can
        # reach (pytest's own temp tree is private to root).
        owned_tmp = Path(tempfile.mkdtemp(prefix="backup-pg-"))
        shutil.chown(owned_tmp, "postgres", "postgres")
        directory = owned_tmp
        run_as = ["runuser", "-u", "postgres", "--"]
    data = directory / "data"
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(data),
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
    port = free_port()
    proc = subprocess.Popen(
        [
            *run_as,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={directory}",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def ready() -> bool:
        return (
            subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            ).returncode
            == 0
        )

    try:
        _wait_for(ready, 30, "postgres")
        subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "backup",
                "backup_test",
            ],
            check=True,
        )
        yield f"postgresql://backup@127.0.0.1:{port}/backup_test"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
        proc.wait(30)
        if owned_tmp is not None:
            shutil.rmtree(owned_tmp, ignore_errors=True)
