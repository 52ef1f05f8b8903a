"""The sealed store: streaming, naming, containment, abort and sweep.

Sealed by the in-memory twin of the keyring (tests/support/memory_sealer.py), which
really encrypts: the store's own logic, without a gpg-agent. The store with real gpg:
tests/integration/vault/test_store_gpg.py."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import tracemalloc
import zlib
from pathlib import Path

import pytest

from tests.support.memory_sealer import MemorySealer
from vault.errors import StoreError
from vault.store import (
    _DEFLATE_AHEAD,
    _DEFLATE_PIECE,
    DocumentSink,
    GzipWriter,
    PlainDigest,
    Store,
    gzip_level_for,
)

SOURCE = "0b7b0f34-93a5-4d42-9f52-2a3b2d8a1c11"


def _word_text(words: int) -> bytes:
    """Text that deflates like prose: `words` words drawn from 500 random ones."""
    vocabulary = [os.urandom(3).hex() for _ in range(500)]
    return " ".join(vocabulary[b % 500] for b in os.urandom(words)).encode()


@pytest.fixture
def keyring() -> MemorySealer:
    return MemorySealer()


@pytest.fixture
def recipient(keyring: MemorySealer) -> str:
    return keyring.generate_reply_key("test", "pass")


@pytest.fixture
def store(tmp_path: Path, keyring: MemorySealer) -> Store:
    return Store(tmp_path / "store", keyring)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


class TestGzipLevel:
    def test_media_is_stored(self) -> None:
        assert gzip_level_for("clip.MP4", b"") == 0
        assert gzip_level_for("x", b"\xff\xd8\xff\xe0" + b"\0" * 100) == 0
        assert gzip_level_for("voice", b"OggS" + b"\0" * 100) == 0

    def test_random_bytes_are_stored(self) -> None:
        assert gzip_level_for("data.bin", os.urandom(65536)) == 0

    def test_text_is_compressed(self) -> None:
        assert gzip_level_for("notes.txt", b"the same words again " * 4000) == 1


class TestSealing:
    def test_document_round_trip_keeps_name(
        self, store: Store, keyring: MemorySealer, recipient: str
    ) -> None:
        data = b"report " * 50_000 + os.urandom(70_000)
        sink = DocumentSink(store.begin_unassigned([recipient]), "../../etc/r\u00e9port.txt")
        for start in range(0, len(data), 8192):
            sink.write(data[start : start + 8192])
        sink.finish()
        sealed = store.adopt(sink.pending, SOURCE, "1-sober_moth-doc.gz.gpg")
        assert sealed.path == store.path_of(SOURCE, "1-sober_moth-doc.gz.gpg")
        assert sealed.size == sealed.path.stat().st_size
        plain = keyring.open_bytes(sealed.path.read_bytes(), "pass")
        assert data not in sealed.path.read_bytes()
        with gzip.GzipFile(fileobj=io.BytesIO(plain)) as gz:
            assert gz.read() == data
        # the gzip header carries the base name only
        assert "r\u00e9port.txt".encode() + b"\x00" in plain[:64]
        assert b"etc" not in plain[:64]
        assert _files(store.root) == [sealed.path]

    @pytest.mark.parametrize(
        ("name", "chunk"),
        [
            ("clip.bin", 1024 * 1024),
            ("clip.bin", 100_000),
            ("notes.txt", 1024 * 1024),
            ("notes.txt", 100_000),
            ("exact.txt", 1024 * 1024),
        ],
    )
    def test_large_chunks_round_trip_with_both_digests(
        self, store: Store, keyring: MemorySealer, recipient: str, name: str, chunk: int
    ) -> None:
        """Chunks as the parser hands them over (hashed in the digest thread): random
        data as stored deflate blocks of at most 64 KiB, text deflated; gzip checks the
        CRC-32 of the trailer, and the manifest's SHA-256 is the plaintext's."""
        text = name.endswith(".txt")
        if text:
            data = _word_text(600_000)
            if name == "exact.txt":  # whole deflate pieces: the last one is empty
                data = (data * 2)[: 4 * 1024 * 1024]
        else:
            data = os.urandom(3 * 1024 * 1024 + 12_345)
        sink = DocumentSink(store.begin_unassigned([recipient]), name)
        for start in range(0, len(data), chunk):
            sink.write(data[start : start + chunk])
        sink.finish()
        assert sink.plaintext_size == len(data)
        assert sink.plaintext_sha256 == hashlib.sha256(data).hexdigest()
        sealed = store.adopt(sink.pending, SOURCE, "1-sober_moth-doc.gz.gpg")
        plain = keyring.open_bytes(sealed.path.read_bytes(), "pass", max_output=8 << 20)
        assert sealed.sha256 == hashlib.sha256(sealed.path.read_bytes()).hexdigest()
        assert gzip.decompress(plain) == data  # checks the CRC-32 and the length
        if text:
            assert len(plain) < len(data) // 2
        else:
            # stored: 5 bytes of framing per 64 KiB block, no zlib output
            writes = -(-len(data) // chunk) + 1  # the 64 KiB sniffed head, then chunks
            blocks = -(-len(data) // 65535) + writes
            assert len(plain) <= 10 + len(name) + 1 + len(data) + 5 * (blocks + 1) + 8
            assert data[70_000:100_000] in plain

    def test_non_latin_names_survive(
        self, store: Store, keyring: MemorySealer, recipient: str
    ) -> None:
        sink = DocumentSink(store.begin_unassigned([recipient]), "голос ijwi.ogg")
        sink.write(b"OggS" + os.urandom(1000))
        sink.finish()
        sealed = store.adopt(sink.pending, SOURCE, "1-a-doc.gz.gpg")
        plain = keyring.open_bytes(sealed.path.read_bytes(), "pass")
        assert "голос ijwi.ogg".encode() + b"\x00" in plain[:64]
        with gzip.GzipFile(fileobj=io.BytesIO(plain)) as gz:
            assert gz.read()[:4] == b"OggS"

    def test_abort_leaves_nothing(self, store: Store, recipient: str) -> None:
        sink = DocumentSink(store.begin_unassigned([recipient]), "a.txt")
        sink.write(b"x" * 200_000)
        sink.abort()
        assert _files(store.root) == []

    def test_refuses_unsafe_names(self, store: Store, recipient: str) -> None:
        pending = store.begin(SOURCE, [recipient])
        with pytest.raises(StoreError):
            pending.commit("../../escape.gpg")
        pending.abort()
        with pytest.raises(StoreError):
            store.path_of("../" + SOURCE, "1-a-msg.gpg")
        assert _files(store.root) == []

    def test_no_overwrite(self, store: Store, recipient: str) -> None:
        store.seal_bytes_to(SOURCE, "1-a-msg.gpg", b"one", [recipient])
        with pytest.raises(StoreError):
            store.seal_bytes_to(SOURCE, "1-a-msg.gpg", b"two", [recipient])
        assert len(_files(store.root)) == 1


class TestShredAndSweep:
    def test_shred_overwrites_then_unlinks(self, store: Store, recipient: str) -> None:
        sealed = store.seal_bytes_to(SOURCE, "1-a-msg.gpg", b"secret", [recipient])
        assert store.shred(sealed.path) is True
        assert not sealed.path.exists()
        assert store.shred(sealed.path) is False

    def test_sweep_removes_orphans_only(self, store: Store, recipient: str) -> None:
        kept = store.seal_bytes_to(SOURCE, "1-a-msg.gpg", b"kept", [recipient])
        orphan = store.seal_bytes_to(SOURCE, "2-a-msg.gpg", b"orphan", [recipient])
        partial = store.begin(SOURCE, [recipient])
        partial.write(b"half")
        partial.finish()  # a crash after this: the partial file stays behind
        old = (dt.datetime.now() - dt.timedelta(hours=2)).timestamp()
        for path in (kept.path, orphan.path, partial.path):
            os.utime(path, (old, old))
        removed = store.sweep([kept.path], dt.timedelta(hours=1))
        assert sorted(removed) == sorted([orphan.path, partial.path])
        assert _files(store.root) == [kept.path]

    def test_sweep_spares_recent_files(self, store: Store, recipient: str) -> None:
        fresh = store.begin(SOURCE, [recipient])
        fresh.write(b"in flight")
        assert store.sweep([], dt.timedelta(hours=1)) == []
        fresh.abort()


def test_plaintext_digest_hashes_large_chunks_beside_the_caller_in_a_reused_buffer() -> None:
    """The parser hands over views of one buffer it refills: a large chunk is hashed by
    the digest's own thread while the caller writes it to gpg, and `wait` returns only
    once it is hashed, so the buffer may then be refilled; the results are those of one
    pass over the whole."""
    pieces = [os.urandom(1024 * 1024) for _ in range(6)]
    buffer = bytearray(1024 * 1024)
    digest = PlainDigest()
    for piece in pieces:
        buffer[:] = piece
        digest.start(memoryview(buffer))
        digest.wait()
    buffer[:] = bytes(len(buffer))  # refilled: nothing of it may still be read
    assert digest._thread is not None
    whole = b"".join(pieces)
    assert digest.sha256 == hashlib.sha256(whole).hexdigest()
    assert digest.crc32 == zlib.crc32(whole)
    assert not digest._thread.is_alive()


def test_plaintext_digest_of_a_short_message_stays_inline() -> None:
    digest = PlainDigest()
    digest.update(b"a short message")
    assert digest._thread is None
    assert digest.sha256 == hashlib.sha256(b"a short message").hexdigest()


class _Discard:
    """A PendingFile that writes nowhere: it keeps the pieces it is given (the pool's
    own bytes, not copies) for the test to join and gunzip."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(data if isinstance(data, bytes) else bytes(data))

    def write_parts(self, parts: object) -> None:
        raise AssertionError("level 1 writes whole pieces")


def test_deflate_memory_is_bounded_by_the_piece_size_not_the_write_size() -> None:
    """Writes of 4 MiB are cut into pieces: what is in flight in the pool (the pieces
    and their deflated output) stays near _DEFLATE_AHEAD pieces, whatever the parser's
    chunk size, and the pieces still make one gzip stream."""
    data = _word_text(3_000_000)[: 16 << 20]
    out = _Discard()
    writer = GzipWriter(out, "notes.txt", 1)  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        for start in range(0, len(data), 4 << 20):
            writer.write(memoryview(data)[start : start + (4 << 20)])
        writer.close(zlib.crc32(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    written = b"".join(out.parts)
    bound = (_DEFLATE_AHEAD + 4) * _DEFLATE_PIECE + len(written)
    assert peak < bound, (peak, bound)
    assert gzip.decompress(written) == data
