"""keys.gpg_stream with real gpg: writes far larger than its pipes, a reader that pauses
between short reads, and an output that cannot be written (a full tmpfs) stopping gpg
instead of hanging the writer, with nothing left behind."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from keys.errors import SealError
from keys.gpg import GpgKeyring
from tests.support.filesystems import small_filesystem

MIB = 1024 * 1024


def test_writes_larger_than_the_pipe_are_sealed_whole(
    tmp_path: Path, keyring: GpgKeyring, recipient: str
) -> None:
    # 4 MiB writes into a 1 MiB pipe: each fills it and waits for gpg to drain it.
    data = os.urandom(12 * MIB)
    output = tmp_path / "sealed.gpg"
    stream = keyring.seal_stream([recipient], output)
    for start in range(0, len(data), 4 * MIB):
        stream.write_parts([b"", memoryview(data)[start : start + 4 * MIB]])
    stream.close()
    stored = output.read_bytes()
    assert stream.size == len(stored) > len(data)
    assert stream.sha256 == hashlib.sha256(stored).hexdigest()
    assert keyring.open_bytes(stored, "pass", max_output=16 * MIB) == data


def test_a_trickle_is_sealed_whole(tmp_path: Path, keyring: GpgKeyring, recipient: str) -> None:
    # As over Tor: small pieces with gaps, so the output reader meets an empty pipe.
    pieces = [os.urandom(3000) for _ in range(40)]
    output = tmp_path / "sealed.gpg"
    stream = keyring.seal_stream([recipient], output)
    for piece in pieces:
        stream.write(piece)
        time.sleep(0.01)
    stream.close()
    stored = output.read_bytes()
    assert stream.sha256 == hashlib.sha256(stored).hexdigest()
    assert keyring.open_bytes(stored, "pass") == b"".join(pieces)


def test_an_output_that_fills_up_stops_gpg_and_leaves_nothing(
    tmp_path: Path, keyring: GpgKeyring, recipient: str
) -> None:
    with small_filesystem(tmp_path / "small", 2) as mounted:
        if mounted is None:
            pytest.skip("mounting a tmpfs needs root (the CI runs as root)")
        output = mounted / "sealed.gpg"
        stream = keyring.seal_stream([recipient], output)
        failure: list[BaseException] = []

        def feed() -> None:
            try:
                for _ in range(16):
                    stream.write(os.urandom(MIB))
                stream.close()
            except SealError as exc:
                failure.append(exc)
                stream.abort()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        writer.join(timeout=60)
        assert not writer.is_alive(), "the writer hung on a pipe nobody empties"
        assert failure, "16 MiB went into a 2 MiB filesystem without an error"
        assert list(mounted.iterdir()) == []
