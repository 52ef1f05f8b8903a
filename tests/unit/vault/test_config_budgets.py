"""Budget settings from the environment, including the older variable's new meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.config import Budget, Config, load_config
from vault.errors import ConfigError


def _load(tmp_path: Path, **env: str) -> Config:
    return load_config({"BACKUP_INSTANCE_DIR": str(tmp_path / "instance"), **env})


def test_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path)
    assert config.source_login_budget == Budget(burst=10, interval_seconds=30)
    assert config.reviewer_login_budget == Budget(burst=10, interval_seconds=30)
    assert config.source_create_budget == Budget(burst=5, interval_seconds=120)


def test_each_budget_is_set_by_its_own_variables(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        BACKUP_SOURCE_LOGIN_BURST="4",
        BACKUP_REVIEWER_LOGIN_INTERVAL_SECONDS="90",
        BACKUP_NEW_SOURCES_BURST="2",
        BACKUP_NEW_SOURCES_INTERVAL_SECONDS="300",
    )
    assert config.source_login_budget == Budget(burst=4, interval_seconds=30)
    assert config.reviewer_login_budget == Budget(burst=10, interval_seconds=90)
    assert config.source_create_budget == Budget(burst=2, interval_seconds=300)


def test_the_older_variable_now_counts_per_client(tmp_path: Path) -> None:
    config = _load(tmp_path, BACKUP_NEW_SOURCES_PER_10_MIN="20")
    assert config.source_create_budget == Budget(burst=20, interval_seconds=30)
    newer = _load(tmp_path, BACKUP_NEW_SOURCES_PER_10_MIN="20", BACKUP_NEW_SOURCES_BURST="3")
    assert newer.source_create_budget == Budget(burst=3, interval_seconds=30)


def test_a_zero_budget_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        _load(tmp_path, BACKUP_REVIEWER_LOGIN_BURST="0")
