"""A partner's instance beside the suite's own (the NGO's): what the federation tests
between two instances share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from composition.runtime import Runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE, _fresh_postgres_database
from tests.support.federation import instance_runtime
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault.migrate import upgrade


@pytest.fixture
def medical(
    tmp_path: Path, database_url: str, redis: Redis, request: pytest.FixtureRequest
) -> Iterator[tuple[Runtime, GeneratedKey, Path]]:
    """The partner's instance, on the same kind of database, with its own submission key."""
    if database_url.startswith("sqlite"):
        url, name = f"sqlite:///{tmp_path / 'medical.sqlite'}", None
    else:
        url, name = _fresh_postgres_database(request.getfixturevalue("postgres_url"))
    env = {
        "BACKUP_INSTANCE_DIR": str(tmp_path / "medical"),
        "DATABASE_URL": url,
        "REDIS_URL": "redis://unused",
    }
    upgrade(url)
    home = tmp_path / "medical-ws" / "gnupg"
    key = generate_submission_key(home, SUBMISSION_PASSPHRASE, name="Medical submission key")
    rt = instance_runtime(env, redis)
    homes = load_into_sealing_homes(rt.config, key.public_armored)
    yield rt, key, home
    rt.engine.dispose()
    kill_agent(rt.keyring.home)
    kill_agent(home)
    stop_agents(homes)
    if name is not None:
        with psycopg.connect(request.getfixturevalue("postgres_url"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
