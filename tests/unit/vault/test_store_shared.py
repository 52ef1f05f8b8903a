"""The store's side of its shared copy (vault.shared_store): when it fetches, what a
fetch leaves behind, what shredding and sweeping ask of the copy, and the setting.

The copy here records what the store asks of it (the store's own logic); the real one,
on PostgreSQL, with two backends: tests/integration/cluster/test_shared_store.py."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from sqlalchemy import create_engine

from tests.support.memory_sealer import MemorySealer
from vault.config import load_config
from vault.errors import ConfigError, StoreError
from vault.shared_store import SharedStore
from vault.store import PARTIAL_PREFIX, Store

SOURCE = "0b7b0f34-93a5-4d42-9f52-2a3b2d8a1c11"
NAME = "1-sober_moth-msg.gpg"


class RecordedCopy:
    """Holds files by (source, name) and records what it was asked."""

    def __init__(self, files: dict[tuple[str, str], bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.fetched: list[tuple[str, str]] = []
        self.deleted: list[tuple[str, str]] = []
        self.swept: list[tuple[str, str]] = []
        self.damaged = False

    def copy_into(self, source_uuid: str, filename: str, out: BinaryIO) -> bool:
        self.fetched.append((source_uuid, filename))
        data = self.files.get((source_uuid, filename))
        if data is None:
            return False
        out.write(data[: len(data) // 2] if self.damaged else data)
        if self.damaged:
            raise StoreError("the shared copy of a sealed file does not match its record")
        return True

    def delete(self, source_uuid: str, filename: str) -> bool:
        self.deleted.append((source_uuid, filename))
        return self.files.pop((source_uuid, filename), None) is not None

    def delete_source(self, source_uuid: str) -> int:
        gone = [key for key in self.files if key[0] == source_uuid]
        for key in gone:
            del self.files[key]
        return len(gone)

    def names(self, source_uuid: str) -> set[str]:
        return {name for uuid, name in self.files if uuid == source_uuid}

    def sweep(self, known: Iterable[tuple[str, str]], cutoff: dt.datetime) -> list[tuple[str, str]]:
        self.swept = list(known)
        return []


def _store(tmp_path: Path, copy: RecordedCopy) -> Store:
    return Store(tmp_path / "store", MemorySealer(), shared=cast(SharedStore, copy))


def test_a_file_here_is_not_fetched(tmp_path: Path) -> None:
    copy = RecordedCopy({(SOURCE, NAME): b"from the database"})
    store = _store(tmp_path, copy)
    store.put_sealed(SOURCE, NAME, b"written here")
    assert store.path_of(SOURCE, NAME).read_bytes() == b"written here"
    assert copy.fetched == []


def test_a_missing_file_is_fetched_whole_under_its_name(tmp_path: Path) -> None:
    data = os.urandom(3000)
    copy = RecordedCopy({(SOURCE, NAME): data})
    store = _store(tmp_path, copy)
    path = store.path_of(SOURCE, NAME)
    assert path.read_bytes() == data
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert [p.name for p in path.parent.iterdir()] == [NAME]  # no partial left
    store.path_of(SOURCE, NAME)
    assert copy.fetched == [(SOURCE, NAME)]  # once: then it is here


def test_a_file_stored_nowhere_is_a_path_that_does_not_exist(tmp_path: Path) -> None:
    store = _store(tmp_path, RecordedCopy())
    path = store.path_of(SOURCE, NAME)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []


def test_a_damaged_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    copy = RecordedCopy({(SOURCE, NAME): os.urandom(3000)})
    copy.damaged = True
    store = _store(tmp_path, copy)
    with pytest.raises(StoreError):
        store.path_of(SOURCE, NAME)
    assert list(store.source_dir(SOURCE).iterdir()) == []


def test_local_path_validates_without_fetching(tmp_path: Path) -> None:
    copy = RecordedCopy({(SOURCE, NAME): b"x"})
    store = _store(tmp_path, copy)
    assert not store.local_path(SOURCE, NAME).exists()
    with pytest.raises(StoreError):
        store.local_path(SOURCE, "../escape-msg.gpg")
    assert copy.fetched == []


def test_shred_removes_both_discard_only_here(tmp_path: Path) -> None:
    copy = RecordedCopy({(SOURCE, NAME): b"x", (SOURCE, "2-sober_moth-msg.gpg"): b"y"})
    store = _store(tmp_path, copy)
    path = store.path_of(SOURCE, NAME)
    assert store.shred(path)
    assert not path.exists() and (SOURCE, NAME) not in copy.files
    assert store.shred(path) is False  # gone from both
    other = store.path_of(SOURCE, "2-sober_moth-msg.gpg")
    assert store.discard(other)
    assert (SOURCE, "2-sober_moth-msg.gpg") in copy.files


def test_shredding_a_partial_file_asks_nothing_of_the_copy(tmp_path: Path) -> None:
    copy = RecordedCopy()
    store = _store(tmp_path, copy)
    partial = store.source_dir(SOURCE, create=True) / f"{PARTIAL_PREFIX}abc"
    partial.write_bytes(b"half")
    assert store.shred(partial)
    assert copy.deleted == []


def test_names_are_those_here_and_in_the_copy(tmp_path: Path) -> None:
    copy = RecordedCopy({(SOURCE, "3-sober_moth-consent.gpg"): b"x"})
    store = _store(tmp_path, copy)
    store.put_sealed(SOURCE, NAME, b"here")
    (store.source_dir(SOURCE) / f"{PARTIAL_PREFIX}abc").write_bytes(b"half")
    assert store.names(SOURCE) == {NAME, "3-sober_moth-consent.gpg"}


def test_sweep_gives_the_copy_the_known_names(tmp_path: Path) -> None:
    copy = RecordedCopy()
    store = _store(tmp_path, copy)
    store.sweep([store.local_path(SOURCE, NAME)], dt.timedelta(hours=1))
    assert copy.swept == [(SOURCE, NAME)]


def test_shred_source_removes_its_directory_and_copies(tmp_path: Path) -> None:
    copy = RecordedCopy({(SOURCE, NAME): b"x", (SOURCE, "2-sober_moth-msg.gpg"): b"y"})
    store = _store(tmp_path, copy)
    store.path_of(SOURCE, NAME)
    store.shred_source(SOURCE)
    assert not store.source_dir(SOURCE).exists()
    assert copy.files == {}


def test_the_shared_copy_needs_postgresql() -> None:
    with pytest.raises(StoreError):
        SharedStore(create_engine("sqlite://"))


def test_the_setting(tmp_path: Path) -> None:
    instance = str(tmp_path / "instance")
    pg = "postgresql://backup@/backup?host=db1:5432"
    assert load_config({"BACKUP_INSTANCE_DIR": instance}).store_backend == "local"
    assert (
        load_config(
            {"BACKUP_INSTANCE_DIR": instance, "BACKUP_STORE": "postgresql", "DATABASE_URL": pg}
        ).store_backend
        == "postgresql"
    )
    with pytest.raises(ConfigError, match="PostgreSQL"):
        load_config({"BACKUP_INSTANCE_DIR": instance, "BACKUP_STORE": "postgresql"})
    with pytest.raises(ConfigError, match="local or postgresql"):
        load_config({"BACKUP_INSTANCE_DIR": instance, "BACKUP_STORE": "s3"})
