"""A PostgreSQL primary with a hot standby by streaming replication, from Debian's
packages, as docs/cluster.md ("Database") lays it out for production.

The standby is a `pg_basebackup -R` of the primary, streaming through a replication
slot (the primary keeps the WAL the standby has not received, however long it is away).
Replication is synchronous: the primary names the standby in
`synchronous_standby_names` (set with ALTER SYSTEM, as an admin would) and a commit
returns only once the standby has flushed it (`synchronous_commit = on`, the default),
so a submission acknowledged to a source is on both servers. Both listen on 127.0.0.1
(free ports) and unix sockets in a temporary directory; the applications reach them
with one multi-host URL whose `target_session_attrs=read-write` picks the primary.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import psycopg.sql

from tests.support.servers import PostgresCluster

STANDBY_NAME = "backup_standby"
SLOT_NAME = "backup_standby_slot"
# libpq gives up on a host after this many seconds and tries the next one: a primary
# whose machine is gone (no "connection refused") costs each new connection this long.
CONNECT_TIMEOUT = 5


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not within {timeout}s")


class ReplicatedPostgres:
    """A primary and its synchronous hot standby; `kill_primary` and `promote` fail over."""

    def __init__(self, directory: Path) -> None:
        self.primary = PostgresCluster(directory / "primary")
        self.standby = PostgresCluster(
            directory / "standby",
            initdb=False,
            settings={"cluster_name": STANDBY_NAME, "hot_standby": "on"},
        )
        self.primary.start()
        # In postgresql.auto.conf (ALTER SYSTEM), as an admin sets it: a later ALTER
        # SYSTEM can change it (a command-line -c would outrank it).
        self._alter_system(self.primary, f"FIRST 1 ({STANDBY_NAME})")
        # -R writes standby.signal and primary_conninfo; -C -S creates the slot.
        subprocess.run(
            [
                *self.standby.run_as,
                str(self.standby.bindir / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "backup",
                "-D",
                str(self.standby.data),
                "-R",
                "-C",
                "-S",
                SLOT_NAME,
                "--wal-method=stream",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        # The copy names a synchronous standby of its own: none yet. Promoted, it takes
        # writes alone until a standby is attached (docs/cluster.md, "Failing over").
        auto = self.standby.data / "postgresql.auto.conf"
        kept = [
            line
            for line in auto.read_text().splitlines(keepends=True)
            if not line.startswith("synchronous_standby_names")
        ]
        auto.write_text("".join(kept))
        self.standby.start()
        _wait(lambda: self.sync_state() == "sync", 30, "the standby streaming synchronously")

    @staticmethod
    def _alter_system(node: PostgresCluster, standby_names: str) -> None:
        with psycopg.connect(f"{node.server_url}/postgres", autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                    psycopg.sql.Literal(standby_names)
                )
            )
            conn.execute("SELECT pg_reload_conf()")

    def run_alone(self) -> None:
        """The primary stops waiting for a standby (the admin's choice when the standby
        is lost: docs/cluster.md): commits that were waiting return at once."""
        self._alter_system(self.primary, "")

    def kill_standby(self) -> None:
        self._kill(self.standby)

    def sync_state(self) -> str | None:
        """The standby's state as the primary sees it ("sync", "async"...), or None."""
        with psycopg.connect(f"{self.primary.server_url}/postgres", autocommit=True) as conn:
            row = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                (STANDBY_NAME,),
            ).fetchone()
        return None if row is None else str(row[0])

    def createdb(self, name: str) -> str:
        self.primary.createdb(name)
        return self.url(name)

    def url(self, name: str) -> str:
        """The one URL the applications are given: both hosts, the writable one chosen."""
        hosts = "&".join(f"host=127.0.0.1:{node.port}" for node in (self.primary, self.standby))
        return (
            f"postgresql://backup@/{name}?{hosts}"
            f"&target_session_attrs=read-write&connect_timeout={CONNECT_TIMEOUT}"
        )

    def node_url(self, node: PostgresCluster, name: str) -> str:
        return f"{node.server_url}/{name}"

    def kill_primary(self) -> None:
        """SIGKILL to the primary and all its processes at once, as a machine lost."""
        self._kill(self.primary)

    @staticmethod
    def _kill(node: PostgresCluster) -> None:
        proc = node.proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        node.proc = None

    def promote(self) -> None:
        """The standby becomes the primary (`pg_promote()`, waiting until it is done)."""
        with psycopg.connect(f"{self.standby.server_url}/postgres", autocommit=True) as conn:
            row = conn.execute("SELECT pg_promote(wait => true, wait_seconds => 60)").fetchone()
        assert row is not None and row[0] is True, "the standby was not promoted"

    def remove(self) -> None:
        self.standby.remove()
        self.primary.remove()
