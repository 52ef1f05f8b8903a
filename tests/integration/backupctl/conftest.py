"""Fixtures of the operator-command tests."""

from __future__ import annotations

import pytest

from composition.runtime import Runtime


@pytest.fixture
def cli_env(runtime: Runtime) -> dict[str, str]:
    """The environment `backupctl` would see on this instance."""
    config = runtime.config
    assert config.redis_url is not None
    return {
        "BACKUP_INSTANCE_DIR": str(config.instance_dir),
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "BACKUP_SCRYPT_N": "16",
    }
