"""The private Redis of a development run: a unix socket in the instance, no TCP port.

Only the instance's owner can connect (socket mode 0700, inside a 0700 directory).
The append-only file is on: a deletion request queued just before a restart must
still be carried out (what it holds is ids, sealed sessions and hashed counters).

Memory: `MAXMEMORY_POLICY` (also in tests/support/servers.py and the Ansible redis role).
"""

from __future__ import annotations

import shutil
import socket
import subprocess  # nosec B404
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from backupctl.dev.supervisor import die_with_parent
from vault.errors import ConfigError

_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, NUL included

# Under memory pressure Redis evicts the least recently used key that carries a TTL:
# sessions, throttle counters, revoked-token marks, RQ's results and heartbeats. Queued
# jobs have no TTL, so they are never evicted, and a login's writes (a session with a
# TTL, counters with a TTL) always find room instead of failing as with `noeviction`.
# The cost of pressure is an idle session ended early or a counter restarted.
MAXMEMORY_POLICY = "volatile-lru"
DEV_MAXMEMORY = "128mb"


def memory_args(maxmemory: str = DEV_MAXMEMORY) -> list[str]:
    """redis-server arguments for BackUp's memory policy (a bound and what it evicts)."""
    return ["--maxmemory", maxmemory, "--maxmemory-policy", MAXMEMORY_POLICY]


class PrivateRedis:
    """A redis-server owned by this process, stopped by its pid."""

    def __init__(self, socket_path: Path, data_dir: Path, log_file: Path) -> None:
        self.socket_path = socket_path
        self.data_dir = data_dir
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 15.0) -> None:
        if len(str(self.socket_path).encode()) > _MAX_SOCKET_PATH:
            raise ConfigError(
                f"{self.socket_path} is too long for a unix socket: "
                "use a shorter instance path, or set REDIS_URL"
            )
        binary = shutil.which("redis-server")
        if binary is None:
            raise ConfigError("redis-server not found: install it (Debian: redis-server)")
        self._clear_stale_socket()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        argv = [
            binary,
            "--port", "0",  # no TCP listener at all
            "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes",
            "--logfile", str(self.log_file),
            "--daemonize", "no",
            *memory_args(),
        ]  # fmt: skip
        self._proc = subprocess.Popen(  # nosec B603
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
            preexec_fn=die_with_parent,  # no other thread runs yet: fork-safe
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ConfigError(f"redis-server exited at start: see {self.log_file}")
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"redis-server did not start within {timeout:.0f}s")

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
        try:
            return bool(client.ping())
        except RedisError:
            return False
        finally:
            client.close()

    def _clear_stale_socket(self) -> None:
        """A socket left by a killed run is removed; a live one means the instance is in use."""
        if not self.socket_path.exists():
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.socket_path))
        except OSError:
            self.socket_path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise ConfigError(f"a Redis server already listens on {self.socket_path}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (Redis then syncs its append-only file and removes the socket)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.socket_path.unlink(missing_ok=True)
