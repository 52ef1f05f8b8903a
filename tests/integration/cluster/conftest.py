"""Fixtures of the cluster tests: an instance directory and a Redis of the test alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import instance_root
from tests.support.servers import RedisServer


@pytest.fixture
def instance() -> Iterator[Path]:
    yield from instance_root()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis (the session's Redis is never taken down)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
