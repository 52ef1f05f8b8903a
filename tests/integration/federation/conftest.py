"""A partner's instance beside the suite's own (the NGO's): what the federation tests
between two instances share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.support.federation import other_instance


@pytest.fixture
def medical(
    tmp_path: Path, database_url: str, redis: Redis, request: pytest.FixtureRequest
) -> Iterator[tuple[Runtime, GeneratedKey, Path]]:
    """The partner's instance, on the same kind of database, with its own submission key."""
    with other_instance(tmp_path, "medical", database_url, redis, request) as made:
        yield made
