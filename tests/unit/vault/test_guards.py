"""The disk guard's arithmetic on real filesystems, the byte budget, and their settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.filesystems import MIB, ballast, small_filesystem
from vault.config import DiskReserve, load_config
from vault.errors import ConfigError, QuotaExceededError, StorageFullError
from vault.guards import ByteBudget, SpaceGuard, sqlite_directory


class TestSpaceGuard:
    """Headroom is free space minus the reserve, on the tightest watched filesystem."""

    def test_a_reserve_above_the_free_space_refuses_everything(self, tmp_path: Path) -> None:
        free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
        guard = SpaceGuard([tmp_path], DiskReserve(bytes=free + 64 * MIB, percent=0))
        assert guard.headroom() < 0
        with pytest.raises(StorageFullError):
            guard.check()

    def test_one_check_per_filesystem(self, tmp_path: Path) -> None:
        guard = SpaceGuard([tmp_path, tmp_path / "a", tmp_path / "b" / "c"], DiskReserve())
        assert guard.paths == [tmp_path]  # missing paths count as their nearest parent

    def test_tightest_filesystem_decides(self, tmp_path: Path) -> None:
        with small_filesystem(tmp_path / "small", 16) as small:
            if small is None:
                pytest.skip("this host cannot mount a tmpfs (not root)")
            guard = SpaceGuard([tmp_path, small], DiskReserve(bytes=4 * MIB, percent=0))
            assert len(guard.paths) == 2
            assert 11 * MIB <= guard.headroom() <= 12 * MIB
            guard.check(11 * MIB)
            ballast(small, 11 * MIB)
            with pytest.raises(StorageFullError):
                guard.check(2 * MIB)

    def test_the_percentage_wins_when_larger(self, tmp_path: Path) -> None:
        guard = SpaceGuard([tmp_path], DiskReserve(bytes=MIB, percent=10))
        assert guard.reserve_of(1000 * MIB) == 100 * MIB
        assert guard.reserve_of(5 * MIB) == MIB


def test_sqlite_directory() -> None:
    assert sqlite_directory("sqlite:////var/lib/backup/backup.sqlite") == Path("/var/lib/backup")
    assert sqlite_directory("sqlite://") is None
    assert sqlite_directory("postgresql://backup@/backup") is None


def test_byte_budget_is_shared_and_says_what_the_request_could_send() -> None:
    budget = ByteBudget(quota=100, remaining=30)
    budget.charge(20)
    with pytest.raises(QuotaExceededError) as refused:
        budget.charge(20)
    assert refused.value.quota == 100 and refused.value.remaining == 30  # nothing kept


class TestSettings:
    def test_defaults(self, tmp_path: Path) -> None:
        config = load_config({"BACKUP_INSTANCE_DIR": str(tmp_path)})
        assert config.disk_reserve == DiskReserve(bytes=1024 * MIB, percent=1, watch=())
        assert config.source_quota_bytes == 2 * config.max_upload_bytes

    def test_from_the_environment(self, tmp_path: Path) -> None:
        config = load_config(
            {
                "BACKUP_INSTANCE_DIR": str(tmp_path),
                "BACKUP_DISK_RESERVE_MIB": "256",
                "BACKUP_DISK_RESERVE_PERCENT": "5",
                "BACKUP_DISK_WATCH": "/var/lib/postgresql:/srv",
                "BACKUP_SOURCE_QUOTA_MIB": "50",
            }
        )
        assert config.disk_reserve == DiskReserve(
            bytes=256 * MIB, percent=5, watch=(Path("/var/lib/postgresql"), Path("/srv"))
        )
        assert config.source_quota_bytes == 50 * MIB

    @pytest.mark.parametrize(
        ("name", "value"),
        [("BACKUP_DISK_RESERVE_PERCENT", "60"), ("BACKUP_SOURCE_QUOTA_MIB", "0")],
    )
    def test_refused_values(self, tmp_path: Path, name: str, value: str) -> None:
        with pytest.raises(ConfigError):
            load_config({"BACKUP_INSTANCE_DIR": str(tmp_path), name: value})
