"""keys.direct_file on real file systems: an ext4 disk (a loop device) takes a sealed
upload around its page cache, whole and byte for byte; ramfs, which has no direct I/O,
takes the same bytes through its cache."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.direct_file import ALIGNED, DirectFile, aligned_buffer
from keys.gpg import GpgKeyring
from keys.gpg_stream import CHUNK
from tests.support.filesystems import mounted_filesystem, resident_bytes

MIB = 1024 * 1024


def _mounted(tmp_path: Path, kind: str) -> Iterator[Path]:
    with mounted_filesystem(tmp_path / kind, kind) as mounted:
        if mounted is None:
            pytest.skip(f"mounting {kind} needs root (the CI runs as root)")
        yield mounted


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    yield from _mounted(tmp_path, "ext4")


@pytest.fixture
def ramfs(tmp_path: Path) -> Iterator[Path]:
    yield from _mounted(tmp_path, "ramfs")


def _write_as_the_stream_does(target: DirectFile, data: bytes) -> None:
    """Whole page-aligned buffers of CHUNK bytes, then the rest (keys.gpg_stream)."""
    buffer = aligned_buffer(CHUNK)
    view = memoryview(buffer)
    for start in range(0, len(data), CHUNK):
        piece = data[start : start + CHUNK]
        view[: len(piece)] = piece
        target.write(view[: len(piece)])
    view.release()
    buffer.close()


@pytest.mark.parametrize(
    "size", [0, 1, ALIGNED - 1, ALIGNED, ALIGNED + 1, CHUNK, 3 * CHUNK + ALIGNED + 7]
)
def test_any_length_is_written_whole_and_only_its_tail_is_cached(disk: Path, size: int) -> None:
    data = os.urandom(size)
    path = disk / "file"
    target = DirectFile(path)
    assert target.direct
    _write_as_the_stream_does(target, data)
    target.sync()
    target.close()
    # Written directly, but for the last partial block (which only the cache takes).
    assert resident_bytes(path) <= ALIGNED
    assert path.read_bytes() == data


def test_a_sealed_upload_is_stored_around_the_page_cache(
    disk: Path, keyring: GpgKeyring, recipient: str
) -> None:
    data = os.urandom(8 * MIB + 1234)
    output = disk / "sealed.gpg"
    stream = keyring.seal_stream([recipient], output)
    for start in range(0, len(data), MIB):
        stream.write(data[start : start + MIB])
    stream.close()
    # Through the page cache, all of it would still be there: nothing reads it back.
    assert output.stat().st_size > 8 * MIB
    assert resident_bytes(output) <= ALIGNED
    stored = output.read_bytes()
    assert stream.size == len(stored)
    assert stream.sha256 == hashlib.sha256(stored).hexdigest()
    assert keyring.open_bytes(stored, "pass", max_output=16 * MIB) == data


def test_a_file_system_without_direct_io_gets_the_same_sealed_file(
    ramfs: Path, keyring: GpgKeyring, recipient: str
) -> None:
    probe = DirectFile(ramfs / "probe")
    assert not probe.direct  # ramfs refuses O_DIRECT: the page cache it is
    probe.close()
    data = os.urandom(3 * MIB + 5)
    output = ramfs / "sealed.gpg"
    stream = keyring.seal_stream([recipient], output)
    stream.write(data)
    stream.close()
    stored = output.read_bytes()
    assert stream.sha256 == hashlib.sha256(stored).hexdigest()
    assert keyring.open_bytes(stored, "pass", max_output=4 * MIB) == data


def test_an_existing_file_is_never_overwritten(disk: Path) -> None:
    path = disk / "taken"
    path.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        DirectFile(path)
    assert path.read_bytes() == b"someone else's"
