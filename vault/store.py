"""The encrypted store: every byte a source sends is sealed before it reaches disk.

Files live under `<store>/<source uuid>/` with SecureDrop's names
(`N-designation-msg.gpg`, `N-designation-doc.gz.gpg`, `N-designation-reply.gpg`), so
SecureDrop's tools can read them. A document is gzip (carrying its original name)
inside OpenPGP; the gzip level is chosen from the content, because compressing media
that is already compressed only slows the upload down.

A write goes to a `.partial-*` file (ciphertext only) that becomes its final name only
on `commit`, after an fsync; `abort` shreds it (the seal stream does). `sweep` removes
what a crash left.

With a `SpaceGuard` (vault.guards), every write is refused before it would eat into the
disk reserve, and a streaming upload is stopped (StorageFullError) once it would; with a
`ByteBudget`, once its files pass a source's quota (QuotaExceededError).

With a `SharedStore` (vault.shared_store; several servers on one PostgreSQL), a file is
also copied into the database in the transaction that records it (`keep`), fetched from
there by a server that lacks it (`path_of`; `local_path` never fetches), and removed
from both by `shred` (`discard`: from this server's directory only).
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import functools
import hashlib
import io
import mimetypes
import os
import re
import secrets
import shutil
import stat
import struct
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from isal import isal_zlib

from vault.errors import StoreError
from vault.guards import CHECK_EVERY, ByteBudget, SpaceGuard
from vault.ports import Sealer, SealStream
from vault.transaction import on_rollback

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vault.shared_store import SharedStore

PARTIAL_PREFIX = ".partial-"
# `-consent.gpg`: a source's own view of its consent (vault.services.source_consent).
_SAFE_NAME = re.compile(r"^[0-9]+-[a-z0-9_]+-(msg\.gpg|doc\.gz\.gpg|reply\.gpg|consent\.gpg)$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SNIFF_BYTES = 64 * 1024
_WRITE_CHUNK = 1024 * 1024
# Below this, a chunk of plaintext is hashed inline: handing it to the hashing thread
# would cost more than it saves.
_DIGEST_THREAD_MIN = 128 * 1024

# Formats that are already compressed: gzip would burn CPU for nothing.
COMPRESSED_EXTENSIONS = frozenset(
    """jpg jpeg png gif webp heic heif avif mp4 m4a m4v mov mkv webm avi 3gp 3g2 mp3 aac
    ogg oga ogv opus flac amr wma wmv zip gz tgz bz2 xz zst 7z rar docx xlsx pptx odt ods
    odp epub apk jar""".split()
)
_COMPRESSED_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG",
    b"GIF8",
    b"PK\x03\x04",  # zip, docx, odt, apk...
    b"\x1f\x8b",  # gzip
    b"OggS",
    b"ID3",  # MP3
    b"fLaC",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xfd7zXZ",
    b"BZh",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM
    b"#!AMR",
)


def gzip_level_for(filename: str | None, head: bytes) -> int:
    """0 (stored) for compressed media, else 1: fast, and most of the gain on text."""
    if filename and "." in filename:
        if filename.rsplit(".", 1)[1].lower() in COMPRESSED_EXTENSIONS:
            return 0
    if head.startswith(_COMPRESSED_MAGIC) or head[4:8] == b"ftyp":  # ftyp: MP4/MOV/3GP
        return 0
    if len(head) >= 4096 and len(zlib.compress(head, 1)) > 0.9 * len(head):
        return 0  # looks random or encrypted: compression will not pay
    return 1


_MAGIC_MEDIA_TYPES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"#!AMR", "audio/amr"),
    (b"PK\x03\x04", "application/zip"),
)


def media_type_for(filename: str | None, head: bytes) -> str:
    """The media type for the sealed manifest: from the content first, then the name."""
    for magic, media_type in _MAGIC_MEDIA_TYPES:
        if head.startswith(magic):
            return media_type
    if head[4:8] == b"ftyp":
        return "video/mp4"
    guessed, _ = mimetypes.guess_type(filename or "", strict=False)
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class SealedFile:
    path: Path
    size: int
    sha256: str


class PendingFile(io.RawIOBase):
    """Ciphertext being written to a partial file in a source's directory."""

    def __init__(
        self,
        directory: Path,
        sealer: Sealer,
        recipients: Sequence[str],
        *,
        guard: SpaceGuard | None = None,
        budget: ByteBudget | None = None,
    ) -> None:
        self.directory = directory
        self.path = directory / f"{PARTIAL_PREFIX}{secrets.token_hex(16)}"
        self._guard = guard
        self._budget = budget
        self._unchecked = 0  # bytes written since free space was last checked
        if guard is not None:
            guard.check()
        self._stream: SealStream = sealer.seal_stream(recipients, self.path)
        self.sealed: SealedFile | None = None
        self.committed = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        # Counted before they go to gpg: what is written is about what is stored.
        if self._budget is not None:
            self._budget.charge(len(data))
        self._unchecked += len(data)
        if self._guard is not None and self._unchecked >= CHECK_EVERY:
            self._guard.check(CHECK_EVERY)  # room for the next stretch, above the reserve
            self._unchecked = 0
        return self._stream.write(bytes(data))

    def write_parts(self, parts: Sequence[bytes | memoryview]) -> int:
        """Write several buffers as one stretch, without joining them first (the stored
        gzip blocks: 5 bytes of framing around each 64 KiB slice of the upload)."""
        total = sum(len(part) for part in parts)
        if self._budget is not None:
            self._budget.charge(total)
        self._unchecked += total
        if self._guard is not None and self._unchecked >= CHECK_EVERY:
            self._guard.check(CHECK_EVERY)
            self._unchecked = 0
        write_parts = getattr(self._stream, "write_parts", None)
        if write_parts is not None:
            return int(write_parts(parts))
        return self._stream.write(b"".join(parts))

    def finish(self) -> SealedFile:
        if self.sealed is None:
            try:
                self._stream.close()
            except BaseException:
                self.abort()
                raise
            size = int(getattr(self._stream, "size", self.path.stat().st_size))
            sha256 = str(getattr(self._stream, "sha256", ""))
            self.sealed = SealedFile(self.path, size, sha256)
        return self.sealed

    def commit(self, final_name: str) -> SealedFile:
        """Give the sealed file its final name, durably."""
        if not _SAFE_NAME.match(final_name):
            raise StoreError("unsafe stored file name")
        sealed = self.finish()
        final = _settle(sealed.path, final_name)
        self.committed = True
        self.sealed = SealedFile(final, sealed.size, sealed.sha256)
        return self.sealed

    def abort(self) -> None:
        """Stop the encryption; what it wrote (ciphertext, never acknowledged) is
        overwritten and removed by the stream."""
        if self.committed:
            return
        try:
            self._stream.abort()
        finally:
            self.path.unlink(missing_ok=True)


class PlainDigest:
    """SHA-256 and CRC-32 of the plaintext, hashed beside the write to gpg.

    Both are needed: the SHA-256 for the sealed manifest (vault.services.custody), the
    CRC-32 for the gzip trailer (ISA-L's, about four times zlib's speed). A large chunk
    is hashed by a thread of the upload's own while the request thread writes the same
    chunk to gpg (hashlib and ISA-L release the GIL on large buffers, as does the
    write), and `wait` returns once it is hashed: the chunk can be a view of the
    parser's buffer, which is refilled after the write returns, so it is never copied
    nor kept. A small chunk is hashed inline.
    """

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._crc = 0
        self._thread: threading.Thread | None = None
        self._chunk: bytes | memoryview | None = None
        self._given = threading.Semaphore(0)  # a chunk (or the end) for the thread
        self._hashed = threading.Semaphore(0)  # the thread is done with it
        self._busy = False
        self._done = False
        self._error: BaseException | None = None

    def _run(self) -> None:
        sha_update = self._sha256.update
        crc32 = isal_zlib.crc32
        while True:
            self._given.acquire()
            data = self._chunk
            if data is None:
                return
            try:
                if self._error is None:
                    sha_update(data)
                    self._crc = crc32(data, self._crc)
            except BaseException as exc:  # raised on the request thread by `wait`
                self._error = exc
            finally:
                self._chunk = None
                self._hashed.release()

    def update(self, data: bytes | memoryview) -> None:
        """Hash `data` on this thread (after any chunk the thread is hashing)."""
        self.wait()
        if self._done:
            raise StoreError("digest already finished")
        self._sha256.update(data)
        self._crc = isal_zlib.crc32(data, self._crc)

    def start(self, data: bytes | memoryview) -> None:
        """Begin hashing `data` beside the caller, who must not change it until `wait`."""
        self.wait()
        if self._done:
            raise StoreError("digest already finished")
        if len(data) < _DIGEST_THREAD_MIN:
            self.update(data)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        self._chunk = data
        self._busy = True
        self._given.release()

    def wait(self) -> None:
        """Return once the chunk given to `start` is hashed."""
        if self._busy:
            self._hashed.acquire()
            self._busy = False
        if self._error is not None:
            raise StoreError("the plaintext could not be hashed") from self._error

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self.wait()
        finally:
            if self._thread is not None:
                self._chunk = None
                self._given.release()
                self._thread.join()

    def _result(self) -> None:
        self.finish()
        if self._error is not None:
            raise StoreError("the plaintext could not be hashed") from self._error

    @property
    def sha256(self) -> str:
        self._result()
        return self._sha256.hexdigest()

    @property
    def crc32(self) -> int:
        self._result()
        return self._crc


class DocumentSink:
    """A writable file object for the multipart parser: gzip, then seal, streaming.

    Holds at most the first 64 KiB in memory (to choose the gzip level); everything
    after goes straight through, and is not kept: what `write` is given may be a view
    of the parser's buffer (web_shared.multipart), valid only during the call. The
    plaintext's SHA-256 and CRC-32 are computed by a `PlainDigest` thread while the
    request thread feeds gpg the same bytes.
    """

    def __init__(self, pending: PendingFile, filename: str | None) -> None:
        self.pending = pending
        self.filename = filename or "document"
        self._head = bytearray()
        self._gzip: GzipWriter | None = None
        self._sealed: SealedFile | None = None
        self.plaintext_size = 0
        # For the sealed manifest (vault.services.custody): hashed here, in memory, on
        # the way into gzip+OpenPGP; only ever stored sealed to the submission key.
        self._digest = PlainDigest()
        self.media_type = "application/octet-stream"

    def _start(self) -> GzipWriter:
        self.media_type = media_type_for(self.filename, bytes(self._head))
        level = gzip_level_for(self.filename, bytes(self._head))
        self._gzip = GzipWriter(self.pending, self.filename, level)
        if self._head:
            head = bytes(self._head)
            self._head.clear()
            self._digest.update(head)
            self._gzip.write(head)
        return self._gzip

    @property
    def plaintext_sha256(self) -> str:
        return self._digest.sha256

    def write(self, data: bytes | memoryview) -> int:
        size = len(data)
        self.plaintext_size += size
        if self._gzip is None:
            self._head += data
            if len(self._head) >= _SNIFF_BYTES:
                self._start()
            return size
        self._digest.start(data)
        try:
            self._gzip.write(data)
        finally:
            self._digest.wait()  # the caller may reuse `data` once this returns
        return size

    def seek(self, offset: int, whence: int = 0) -> int:
        # The multipart parser rewinds the container when a part ends; ours is one-way.
        return 0

    def finish(self) -> SealedFile:
        """End the gzip stream and the encryption; later calls return the same result."""
        if self._sealed is None:
            target = self._gzip or self._start()
            target.close(self._digest.crc32)
            self._sealed = self.pending.finish()
        return self._sealed

    def abort(self) -> None:
        self._head.clear()
        try:
            self.pending.abort()
        finally:
            self._digest.finish()


class GzipWriter:
    """A one-way gzip stream (RFC 1952) whose FNAME is the UTF-8 base name.

    `gzip.GzipFile` can only store latin-1 names and silently drops the others; the
    people who use BackUp name files in Kinyarwanda, Arabic, Russian... The workstation
    reads the name as UTF-8. mtime is 0: nothing about when the source made the file.

    Level 0 (media, random-looking data) does not go through zlib at all: the data is
    framed as stored deflate blocks (5 bytes before each 64 KiB slice) and written with
    the slices, uncopied. The CRC-32 of the trailer (the format requires it) is given
    to `close` by the caller, which computes it off the request thread.

    Level 1 deflates 256 KiB pieces in parallel, as pigz does: each piece is compressed
    by a shared pool of threads (zlib releases the GIL) with the last 32 KiB of the
    previous piece as its dictionary, and ends on a sync flush (a byte boundary), so
    the pieces, written in order, are one deflate stream that any gunzip reads.
    """

    def __init__(self, out: PendingFile, name: str, level: int) -> None:
        self._out = out
        base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "") or "document"
        fname = base.encode("utf-8", "replace")[:255]
        header = b"\x1f\x8b\x08\x08" + b"\0\0\0\0" + b"\x00\xff" + fname + b"\0"
        out.write(header)
        self._level = level
        self._size = 0
        self._piece = bytearray()
        self._dictionary = b""
        self._running: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()

    def write(self, data: bytes | memoryview) -> int:
        self._size += len(data)
        if not self._level:
            self._out.write_parts(_stored_blocks(data))
            return len(data)
        # Pieces of _DEFLATE_PIECE whatever the size of the writes: what is in flight,
        # so the memory an upload holds, stays bounded by the piece size.
        view = memoryview(data)
        while view:
            room = _DEFLATE_PIECE - len(self._piece)
            self._piece += view[:room]
            view = view[room:]
            if len(self._piece) >= _DEFLATE_PIECE:
                self._submit(final=False)
        return len(data)

    def _submit(self, *, final: bool) -> None:
        # Handed over whole (the pool only reads it) and replaced: no copy.
        piece = self._piece
        self._piece = bytearray()
        self._running.append(
            _deflate_pool().submit(_deflate_piece, piece, self._dictionary, self._level, final)
        )
        self._dictionary = bytes(piece[-_DEFLATE_WINDOW:])
        # In order, without waiting for what is not done yet (beyond the bound).
        while self._running and (len(self._running) > _DEFLATE_AHEAD or self._running[0].done()):
            self._out.write(self._running.popleft().result())

    def close(self, crc32: int) -> None:
        if self._level:
            self._submit(final=True)
            while self._running:
                self._out.write(self._running.popleft().result())
            end = b""
        else:
            end = _LAST_STORED_BLOCK  # an empty final block ends the deflate stream
        self._out.write(end + struct.pack("<II", crc32, self._size & 0xFFFFFFFF))


_DEFLATE_PIECE = 256 * 1024
_DEFLATE_WINDOW = 32 * 1024
_DEFLATE_AHEAD = 4  # pieces in the pool per upload, at most (memory: about 0.5 MiB each)
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _deflate_pool() -> concurrent.futures.ThreadPoolExecutor:
    """One pool per process (made on first use: after gunicorn forks its workers), as
    many threads as CPUs: concurrent uploads share the cores instead of multiplying
    threads."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=os.cpu_count() or 2, thread_name_prefix="deflate"
            )
        return _pool


def _deflate_piece(piece: bytearray, dictionary: bytes, level: int, final: bool) -> bytes:
    if dictionary:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=dictionary)
    else:
        deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflate.compress(piece) + deflate.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


_STORED_MAX = 0xFFFF
_LAST_STORED_BLOCK = b"\x01\x00\x00\xff\xff"


def _stored_blocks(data: bytes | memoryview) -> list[bytes | memoryview]:
    """`data` as non-final stored deflate blocks (RFC 1951 3.2.4): header, slice, ..."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(data), _STORED_MAX):
        piece = view[start : start + _STORED_MAX]
        n = len(piece)
        parts.append(struct.pack("<BHH", 0, n, n ^ 0xFFFF))
        parts.append(piece)
    return parts


def _settle(partial: Path, final_name: str) -> Path:
    """Give a written partial file its final name in its directory, durably."""
    if not _SAFE_NAME.match(final_name):
        raise StoreError("unsafe stored file name")
    final = partial.parent / final_name
    if final.exists():
        raise StoreError("stored file name already in use")
    os.rename(partial, final)
    _fsync_dir(partial.parent)
    return final


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """Path-contained access to sealed files."""

    def __init__(
        self,
        root: Path,
        sealer: Sealer,
        guard: SpaceGuard | None = None,
        shared: SharedStore | None = None,
    ) -> None:
        self.root = root
        self.sealer = sealer
        self.guard = guard
        # Several servers on one database (vault.shared_store): every file kept is copied
        # there with its row, and this directory is a cache of it.
        self.shared = shared
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A store whose root is set-group-ID is shared by the processes of a group (a
        # deployment that runs each as its own user: the source app writes, the reviewer
        # app and the worker read and shred; ansible/, docs/deploy.md): what is made in
        # it is the group's too. Otherwise everything is the owner's alone. The process's
        # umask still applies (the units' is 0007: nothing for others, ever).
        group = bool(root.stat().st_mode & stat.S_ISGID)
        self._dir_mode = 0o770 if group else 0o700
        self._file_mode = 0o660 if group else 0o600

    def ensure_room(self, size: int) -> None:
        """Raise StorageFullError unless `size` bytes fit above the disk reserve."""
        if self.guard is not None:
            self.guard.check(size)

    def source_dir(self, source_uuid: str, create: bool = False) -> Path:
        if not _UUID.match(source_uuid):
            raise StoreError("invalid source id")
        path = self.root / source_uuid
        if create:
            path.mkdir(mode=self._dir_mode, exist_ok=True)
        return path

    def local_path(self, source_uuid: str, filename: str) -> Path:
        """Where the file is (or would be) in this server's directory; nothing fetched."""
        if not _SAFE_NAME.match(filename):
            raise StoreError("invalid stored file name")
        path = self.source_dir(source_uuid) / filename
        root = os.path.realpath(self.root)
        if os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise StoreError("path escapes the store")
        return path

    def path_of(self, source_uuid: str, filename: str) -> Path:
        """The file's path, to read it. With a shared copy, a file this server does not
        have is fetched first; a file stored nowhere is a path that does not exist."""
        path = self.local_path(source_uuid, filename)
        if self.shared is not None and not path.exists():
            self._fetch(self.shared, source_uuid, filename, path)
        return path

    def _fetch(self, shared: SharedStore, source_uuid: str, filename: str, path: Path) -> None:
        """Copy the shared file into this directory as a write is made: a partial file
        (swept if we crash), fsynced, then renamed (a concurrent fetch of the same file
        writes the same bytes: the last rename wins)."""
        directory = self.source_dir(source_uuid, create=True)
        partial = directory / f"{PARTIAL_PREFIX}{secrets.token_hex(16)}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self._file_mode)
            with os.fdopen(fd, "wb") as handle:
                found = shared.copy_into(source_uuid, filename, handle)
                handle.flush()
                os.fsync(handle.fileno())
            if found:
                os.replace(partial, path)
                _fsync_dir(directory)
        finally:
            partial.unlink(missing_ok=True)

    def keep(self, db: Session, sealed: SealedFile) -> None:
        """Tie a file just written to the caller's transaction: it is shredded unless
        the transaction commits, and, with a shared copy, copied in it (so the row that
        names it and its ciphertext are committed together)."""
        on_rollback(db, functools.partial(self.discard, sealed.path))
        if self.shared is not None:
            source_uuid, filename = self._name_of(sealed.path)
            copied = self.shared.put(db, source_uuid, filename, sealed.path)
            if sealed.sha256 and copied != sealed.sha256:
                raise StoreError("a sealed file changed before it was copied")

    def _name_of(self, path: Path) -> tuple[str, str]:
        """(source uuid, file name) of a file in a source's directory of this store."""
        checked = self.local_path(path.parent.name, path.name)
        if os.path.realpath(checked) != os.path.realpath(path):
            raise StoreError("not a file of this store")
        return path.parent.name, path.name

    def names(self, source_uuid: str) -> set[str]:
        """The stored file names of a source: here, and in the shared copy."""
        directory = self.source_dir(source_uuid)
        found = set()
        if directory.is_dir():
            found = {p.name for p in directory.iterdir() if _SAFE_NAME.match(p.name)}
        if self.shared is not None:
            found |= self.shared.names(source_uuid)
        return found

    def begin(self, source_uuid: str, recipients: Sequence[str]) -> PendingFile:
        directory = self.source_dir(source_uuid, create=True)
        return PendingFile(directory, self.sealer, recipients, guard=self.guard)

    def begin_unassigned(
        self, recipients: Sequence[str], budget: ByteBudget | None = None
    ) -> PendingFile:
        """A partial file before the source is known (the parser runs before the view)."""
        incoming = self.root / "incoming"
        incoming.mkdir(mode=self._dir_mode, exist_ok=True)
        return PendingFile(incoming, self.sealer, recipients, guard=self.guard, budget=budget)

    def adopt(self, pending: PendingFile, source_uuid: str, final_name: str) -> SealedFile:
        """Move an unassigned partial file into its source's directory under its name."""
        sealed = pending.finish()
        target_dir = self.source_dir(source_uuid, create=True)
        moved = target_dir / sealed.path.name
        os.rename(sealed.path, moved)
        _fsync_dir(sealed.path.parent)
        pending.directory = target_dir
        pending.path = moved
        pending.sealed = SealedFile(moved, sealed.size, sealed.sha256)
        return pending.commit(final_name)

    def seal_bytes_to(
        self, source_uuid: str, final_name: str, data: bytes, recipients: Sequence[str]
    ) -> SealedFile:
        self.ensure_room(len(data))
        pending = self.begin(source_uuid, recipients)
        try:
            for start in range(0, len(data), _WRITE_CHUNK):
                pending.write(data[start : start + _WRITE_CHUNK])
            return pending.commit(final_name)
        except BaseException:
            pending.abort()
            raise

    def put_sealed(self, source_uuid: str, final_name: str, data: bytes) -> SealedFile:
        """Store bytes already sealed elsewhere (a reply the reviewer's client encrypted),
        as durably as what the store seals itself: a partial file (swept if we crash),
        fsync, then the final name."""
        self.local_path(source_uuid, final_name)  # validates the name and containment
        self.ensure_room(len(data))  # StorageFullError above the disk reserve
        directory = self.source_dir(source_uuid, create=True)
        partial = directory / f"{PARTIAL_PREFIX}{secrets.token_hex(16)}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self._file_mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            final = _settle(partial, final_name)
        finally:
            partial.unlink(missing_ok=True)
        return SealedFile(final, len(data), hashlib.sha256(data).hexdigest())

    def shred(self, path: Path) -> bool:
        """Remove a stored file for good: here (`discard`) and its shared copy. False if
        it was already gone from both."""
        here = self.discard(path)
        if self.shared is None or path.name.startswith(PARTIAL_PREFIX):
            return here
        source_uuid, filename = self._name_of(path)
        return self.shared.delete(source_uuid, filename) or here

    def shred_source(self, source_uuid: str) -> None:
        """Remove every file of a source: here, and the shared copies."""
        directory = self.source_dir(source_uuid)
        if directory.exists():
            for path in sorted(directory.iterdir()):
                if path.is_file():
                    self.discard(path)
            shutil.rmtree(directory, ignore_errors=True)
        if self.shared is not None:
            self.shared.delete_source(source_uuid)

    def discard(self, path: Path) -> bool:
        """Overwrite this server's file with random bytes, fsync, then unlink. False if
        already gone. Its shared copy, if any, is left (see `shred`)."""
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        with open(path, "r+b", buffering=0) as handle:
            remaining = size
            while remaining > 0:
                chunk = min(remaining, _WRITE_CHUNK)
                handle.write(secrets.token_bytes(chunk))
                remaining -= chunk
            os.fsync(handle.fileno())
        path.unlink()
        _fsync_dir(path.parent)
        return True

    def sweep(self, known: Iterable[Path], older_than: dt.timedelta) -> list[Path]:
        """Shred partial files and files no row refers to, once older than `older_than`.

        What a crash or a killed request left behind: never acknowledged to anyone. With
        a shared copy, also what another server deleted (this cache's copy), and shared
        copies no row refers to (`SharedStore.sweep`).
        """
        known = list(known)
        keep = {os.path.realpath(p) for p in known}
        now = dt.datetime.now(dt.UTC)
        cutoff = now.timestamp() - older_than.total_seconds()
        removed = []
        for path in self.root.rglob("*"):
            if not path.is_file() or os.path.realpath(path) in keep:
                continue
            if path.stat().st_mtime > cutoff:
                continue
            if self.discard(path):
                removed.append(path)
        if self.shared is not None:
            pairs = [(p.parent.name, p.name) for p in known]
            for source_uuid, filename in self.shared.sweep(pairs, now - older_than):
                removed.append(self.local_path(source_uuid, filename))
        return removed
