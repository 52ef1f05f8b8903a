"""Resource guards for what sources and reviewers write: free disk space, and a byte
budget shared by the files of one request.

The disk guard keeps a reserve free on every filesystem that matters (the store's, the
database's, any watched path): new data is refused while the database still has room to
commit, so nothing already acknowledged is put at risk by a full disk. It is checked
before a write starts and again every `CHECK_EVERY` bytes while an upload streams.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from vault.config import DiskReserve
from vault.errors import QuotaExceededError, StorageFullError

__all__ = ["CHECK_EVERY", "ByteBudget", "SpaceGuard", "sqlite_directory"]

# While streaming, free space is checked again after this many bytes (one statvfs call
# per filesystem: cheap next to the gzip and OpenPGP work on the same bytes).
CHECK_EVERY = 1024 * 1024


@dataclass(frozen=True)
class _Filesystem:
    path: Path  # one path on it, the first given


class SpaceGuard:
    """Refuses writes that would eat into the reserve on any watched filesystem."""

    def __init__(self, paths: Iterable[Path], reserve: DiskReserve) -> None:
        self.reserve = reserve
        self._filesystems: list[_Filesystem] = []
        devices: set[int] = set()
        for path in paths:
            existing = _nearest_existing(path)
            device = os.stat(existing).st_dev
            if device not in devices:  # one check per filesystem, not per path
                devices.add(device)
                self._filesystems.append(_Filesystem(existing))

    @property
    def paths(self) -> list[Path]:
        return [fs.path for fs in self._filesystems]

    def reserve_of(self, total: int) -> int:
        """The reserve on a filesystem of `total` bytes: a fixed amount or a share."""
        return max(self.reserve.bytes, total * self.reserve.percent // 100)

    def headroom(self) -> int:
        """Bytes that may still be written before the tightest reserve is reached."""
        room: int | None = None
        for fs in self._filesystems:
            stats = os.statvfs(fs.path)
            # f_bavail: what an unprivileged process (the apps, PostgreSQL) may still use.
            free = stats.f_bavail * stats.f_frsize
            left = free - self.reserve_of(stats.f_blocks * stats.f_frsize)
            room = left if room is None else min(room, left)
        return 0 if room is None else room

    def check(self, incoming: int = 0) -> None:
        """Raise StorageFullError unless `incoming` more bytes fit above the reserve."""
        if self.headroom() < incoming:
            raise StorageFullError("disk space reserve reached")


def _nearest_existing(path: Path) -> Path:
    """The path itself or its closest existing parent (a store not yet created)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def sqlite_directory(database_url: str) -> Path | None:
    """Where a SQLite database (and its journal or WAL) lives; None for other engines."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve().parent


class ByteBudget:
    """The bytes one request may still store for a source (their quota's remainder),
    shared by every file of the request."""

    def __init__(self, quota: int, remaining: int) -> None:
        self.quota = quota
        self.allowed = remaining
        self.remaining = remaining

    def charge(self, size: int) -> None:
        self.remaining -= size
        if self.remaining < 0:
            # Nothing of a refused request is kept: the source may still send all of it.
            raise QuotaExceededError(self.quota, self.allowed)
