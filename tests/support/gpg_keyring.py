"""A throwaway server-side GnuPG home for the tests of keys and the store with real gpg
(registered for tests/integration by its conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring, kill_agent


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[GpgKeyring]:
    ring = GpgKeyring(tmp_path / "gnupg")
    yield ring
    kill_agent(ring.home)


@pytest.fixture
def recipient(keyring: GpgKeyring) -> str:
    """A reply key of that home, its passphrase "pass"."""
    return keyring.generate_reply_key("test", "pass")
