"""The submit views' body reader: large reads of the body, served in the parser's
smaller pieces, in order and complete."""

from __future__ import annotations

import io
import os

from source_app.uploads import READ_AHEAD, _ReadAhead


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        self.sizes.append(len(buffer))
        return super().readinto(buffer)


def test_small_reads_are_served_from_large_reads_of_the_body() -> None:
    body = os.urandom(3 * READ_AHEAD + 12345)
    stream = _CountingStream(body)
    reader = _ReadAhead(stream)
    pieces = []
    while piece := reader.read(100 * 1024):
        assert len(piece) <= 100 * 1024
        pieces.append(bytes(piece))  # copied before the next read, as the parser does
    assert b"".join(pieces) == body
    # Each read of the body asks for READ_AHEAD: 4 with data, 1 at the end.
    assert stream.sizes == [READ_AHEAD] * 5


def test_read_all_and_a_read_larger_than_the_read_ahead() -> None:
    body = os.urandom(READ_AHEAD + 10)
    reader = _ReadAhead(_CountingStream(body))
    assert bytes(reader.read(10)) == body[:10]
    assert bytes(reader.read(-1)) == body[10:READ_AHEAD]
    assert bytes(reader.read(2 * READ_AHEAD)) == body[READ_AHEAD:]
    assert bytes(reader.read(5)) == b""
