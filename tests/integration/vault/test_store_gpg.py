"""The sealed store with real gpg (keys.gpg.GpgKeyring): what the unit tests of the
store (tests/unit/vault/test_store.py, on the in-memory twin) cannot show: gpg's
ciphertext opens to the gzip the store wrote, an aborted upload's partial ciphertext
is overwritten before it is unlinked, a reply key's user id says nothing."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring
from vault.store import DocumentSink, Store

SOURCE = "0b7b0f34-93a5-4d42-9f52-2a3b2d8a1c11"


@pytest.fixture
def store(tmp_path: Path, keyring: GpgKeyring) -> Store:
    return Store(tmp_path / "store", keyring)


def test_document_round_trip_through_gpg(store: Store, keyring: GpgKeyring, recipient: str) -> None:
    data = b"report " * 50_000 + os.urandom(70_000)
    sink = DocumentSink(store.begin_unassigned([recipient]), "r\u00e9port.txt")
    for start in range(0, len(data), 100_000):
        sink.write(data[start : start + 100_000])
    sink.finish()
    sealed = store.adopt(sink.pending, SOURCE, "1-sober_moth-doc.gz.gpg")
    stored = sealed.path.read_bytes()
    assert data[:1000] not in stored
    assert sealed.size == len(stored)
    assert sealed.sha256 == hashlib.sha256(stored).hexdigest()
    plain = keyring.open_bytes(stored, "pass", max_output=8 << 20)
    with gzip.GzipFile(fileobj=io.BytesIO(plain)) as gz:
        assert gz.read() == data


def test_abort_overwrites_the_partial_ciphertext(
    store: Store, recipient: str, tmp_path: Path
) -> None:
    """What an aborted upload wrote is overwritten before it is unlinked: a second
    link to the same file (what a copy of the disk would still hold) shows it."""
    pending = store.begin(SOURCE, [recipient])
    pending.write(os.urandom(3 * 1024 * 1024))
    witness = tmp_path / "witness"
    deadline = time.monotonic() + 10
    while pending.path.stat().st_size < 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)  # gpg's output is copied in by a thread
    os.link(pending.path, witness)
    before = witness.read_bytes()
    assert before
    pending.abort()
    assert not pending.path.exists()
    after = witness.read_bytes()
    assert len(after) >= len(before) and after[: len(before)] != before


def test_reply_key_user_id_reveals_nothing(keyring: GpgKeyring, recipient: str) -> None:
    path = keyring.key_file(recipient)
    assert path is not None
    [key] = keyring.gpg.scan_keys(str(path))
    assert key["uids"] == ["test"]


def test_a_set_group_id_store_is_the_groups(
    tmp_path: Path, keyring: GpgKeyring, recipient: str
) -> None:
    """A deployment that runs each process as its own user shares the store through a
    group (ansible/: root set-group-ID, umask 0007): the source app's sealed files and
    directories, the reviewer app's replies, are then the group's to read and shred."""
    root = tmp_path / "shared-store"
    root.mkdir()
    os.chmod(root, 0o2770)  # noqa: S103  (what the deployment sets: group, no others)
    old = os.umask(0o007)
    try:
        store = Store(root, keyring)
        sealed = store.seal_bytes_to(SOURCE, "1-sober_moth-msg.gpg", b"a message", [recipient])
        reply = store.put_sealed(SOURCE, "2-sober_moth-reply.gpg", b"\x85sealed elsewhere")
        sink = DocumentSink(store.begin_unassigned([recipient]), "doc.txt")
        sink.write(b"a document")
        sink.finish()
        adopted = store.adopt(sink.pending, SOURCE, "3-sober_moth-doc.gz.gpg")
    finally:
        os.umask(old)
    for path in (sealed.path, reply.path, adopted.path):
        assert path.stat().st_mode & 0o777 == 0o660, path
    for directory in (root / SOURCE, root / "incoming"):
        assert directory.stat().st_mode & 0o7777 == 0o2770, directory


def test_a_private_store_stays_the_owners(tmp_path: Path, keyring: GpgKeyring) -> None:
    """Without set-group-ID (development, the tests), nothing the store makes is the
    group's, whatever the umask."""
    old = os.umask(0o002)
    try:
        store = Store(tmp_path / "private-store", keyring)
        reply = store.put_sealed(SOURCE, "2-sober_moth-reply.gpg", b"\x85sealed elsewhere")
    finally:
        os.umask(old)
    assert reply.path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "private-store" / SOURCE).stat().st_mode & 0o777 == 0o700
