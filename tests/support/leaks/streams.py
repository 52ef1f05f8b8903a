"""Compressed streams inside any blob, found by their headers and opened within bounds.

gzip, zlib, bzip2 and xz streams announce themselves with magic bytes; raw deflate has
none, so it is tried where a container says one starts (a ZIP local file header, an
OpenPGP compressed-data packet), at every offset of small blobs (database cells, Redis
values) and of the first bytes of larger ones. Each attempt stops at the first invalid
byte, so random data (ciphertext) costs a few microseconds per candidate; output is
capped per stream and per scan.
"""

from __future__ import annotations

import bz2
import lzma
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

STREAM_OUTPUT_CAP = 64 * 1024 * 1024
SCAN_OUTPUT_BUDGET = 1024 * 1024 * 1024
# Raw deflate is tried at every offset of blobs up to this size, and at every offset of
# the first RAW_DEFLATE_PREFIX bytes of larger ones (a framing header before the stream);
# each attempt costs about 4 µs on an idle core.
RAW_DEFLATE_EVERY_OFFSET = 512
RAW_DEFLATE_PREFIX = 64
_CHUNK = 64 * 1024


@dataclass
class Budget:
    """Decompressed bytes a scan may still produce, and what it could not open fully."""

    left: int = SCAN_OUTPUT_BUDGET
    incomplete: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stream:
    form: str
    offset: int
    data: bytes


def _inflate(data: memoryview, wbits: int, cap: int) -> tuple[bytes, int, bool]:
    """Output (up to `cap`), input bytes consumed, and whether the stream ended."""
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    fed = 0
    try:
        while fed < len(data) and not inflater.eof and len(out) < cap:
            chunk = data[fed : fed + _CHUNK]
            fed += len(chunk)
            out += inflater.decompress(chunk, cap - len(out))
            while inflater.unconsumed_tail and len(out) < cap:
                out += inflater.decompress(inflater.unconsumed_tail, cap - len(out))
    except zlib.error:
        pass
    consumed = fed - len(inflater.unused_data) - len(inflater.unconsumed_tail)
    return bytes(out), consumed, inflater.eof


def _unpack(
    decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor, data: memoryview, cap: int
) -> tuple[bytes, int, bool]:
    out = bytearray()
    fed = 0
    try:
        while fed < len(data) and not decompressor.eof and len(out) < cap:
            chunk = data[fed : fed + _CHUNK]
            fed += len(chunk)
            out += decompressor.decompress(chunk, cap - len(out))
            while not decompressor.needs_input and not decompressor.eof and len(out) < cap:
                out += decompressor.decompress(b"", cap - len(out))
    except (OSError, EOFError, lzma.LZMAError):
        pass
    consumed = fed - len(decompressor.unused_data)
    return bytes(out), consumed, decompressor.eof


def _zlib_headers() -> bytes:
    """Every valid zlib header (deflate, any window, no preset dictionary), as a pattern
    that starts with a character class (re scans for those fast)."""
    cmfs = range(0x08, 0x80, 0x10)
    parts = []
    for cmf in cmfs:
        flgs = bytes(f for f in range(256) if (cmf * 256 + f) % 31 == 0 and not f & 0x20)
        parts.append(b"(?<=" + re.escape(bytes([cmf])) + b")[" + re.escape(flgs) + b"]")
    first = b"[" + re.escape(bytes(cmfs)) + b"]"
    return first + b"(?:" + b"|".join(parts) + b")"


_GZIP = re.compile(rb"\x1f\x8b\x08")
_ZLIB = re.compile(_zlib_headers())
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_XZ = re.compile(rb"\xfd7zXZ\x00")
_ZIP_ENTRY = re.compile(rb"PK\x03\x04")
# OpenPGP compressed-data packets (tag 8), old and new formats, algorithm 1-3 (RFC 4880
# 4.2 and 5.6); the leading character class keeps the search fast.
_PGP_COMPRESSED = re.compile(
    rb"[\xa0-\xa3\xc8](?:(?<=\xa3)|(?<=\xa0).|(?<=\xa1)..|(?<=\xa2)...."
    rb"|(?<=\xc8)(?:[\x00-\xbf\xe0-\xfe]|[\xc0-\xdf].|\xff....))[\x01-\x03]",
    re.DOTALL,
)


def _pgp_new_length(blob: bytes, pos: int) -> tuple[int, int, bool] | None:
    """(length, header size, partial) of a new-format packet length at `pos`."""
    if pos >= len(blob):
        return None
    first = blob[pos]
    if first < 192:
        return first, 1, False
    if first < 224:
        if pos + 1 >= len(blob):
            return None
        return ((first - 192) << 8) + blob[pos + 1] + 192, 2, False
    if first == 255:
        if pos + 5 > len(blob):
            return None
        return struct.unpack(">I", blob[pos + 1 : pos + 5])[0], 5, False
    return 1 << (first & 0x1F), 1, True


def _pgp_body(blob: bytes, start: int) -> memoryview | None:
    """The body of the compressed packet at `start`, partial-length chunks joined
    (a view, not a copy: candidates are many in random data)."""
    view = memoryview(blob)
    tag = blob[start]
    if tag & 0x40 == 0:  # old format
        size = (1, 2, 4, 0)[tag & 0x03]
        if size == 0:
            return view[start + 1 :]
        length = int.from_bytes(blob[start + 1 : start + 1 + size], "big")
        return view[start + 1 + size : start + 1 + size + length]
    parts = []
    pos = start + 1
    while True:
        parsed = _pgp_new_length(blob, pos)
        if parsed is None:
            return None
        length, header, partial = parsed
        parts.append(view[pos + header : pos + header + length])
        pos += header + length
        if not partial or pos >= len(blob):
            return parts[0] if len(parts) == 1 else memoryview(b"".join(parts))


class StreamFinder:
    def __init__(self, min_output: int, budget: Budget) -> None:
        self.min_output = min_output
        self.budget = budget

    def _opened(
        self, form: str, offset: int, result: tuple[bytes, int, bool], place: str, cap: int
    ) -> Stream | None:
        data, _consumed, ended = result
        if len(data) < self.min_output:
            return None
        self.budget.left -= len(data)
        if len(data) >= cap and not ended:
            self.budget.incomplete.append(
                f"{place}: {form} at {offset} opened only to {cap} bytes"
                " (the per-stream or per-scan limit)"
            )
        return Stream(form, offset, data)

    def streams(self, blob: bytes, place: str) -> Iterator[Stream]:
        """Every compressed stream found in `blob`, decompressed."""
        if self.budget.left <= 0:
            self.budget.incomplete.append(f"{place}: decompression budget spent")
            return
        view = memoryview(blob)
        cap = min(STREAM_OUTPUT_CAP, max(self.budget.left, 0))
        covered: list[tuple[int, int]] = []  # input spans of streams already opened

        def inflated(form: str, offset: int, start: int, wbits: int) -> Stream | None:
            result = _inflate(view[start:], wbits, cap)
            if result[2]:
                covered.append((offset, start + result[1]))
            return self._opened(form, offset, result, place, cap)

        # Containers first: a stream inside one is reported as the container's.
        for match in _PGP_COMPRESSED.finditer(blob):
            yield from self._pgp_packet(blob, match.start(), cap, place, covered)
        candidates: list[tuple[int, str, int, int]] = []  # offset, form, data start, wbits
        for match in _ZIP_ENTRY.finditer(blob):
            at = match.start()
            if at + 30 > len(blob):
                continue
            method, name_len, extra_len = (
                struct.unpack("<H", blob[at + 8 : at + 10])[0],
                *struct.unpack("<HH", blob[at + 26 : at + 30]),
            )
            if method == 8:
                candidates.append((at, "ZIP entry (deflate)", at + 30 + name_len + extra_len, -15))
        for match in _GZIP.finditer(blob):
            candidates.append((match.start(), "gzip stream", match.start(), 31))
        for match in _ZLIB.finditer(blob):
            candidates.append((match.start(), "zlib stream", match.start(), 15))
        candidates.append((0, "raw deflate stream", 0, -15))
        for offset, form, start, wbits in candidates:
            if any(lo <= offset < hi for lo, hi in covered):
                continue
            found = inflated(form, offset, start, wbits)
            if found is not None:
                yield found
        small = len(blob) <= RAW_DEFLATE_EVERY_OFFSET
        for offset in range(1, len(blob) if small else RAW_DEFLATE_PREFIX):
            if any(lo <= offset < hi for lo, hi in covered):
                continue
            found = inflated("raw deflate stream", offset, offset, -15)
            if found is not None:
                yield found
        for match in _BZIP2.finditer(blob):
            result = _unpack(bz2.BZ2Decompressor(), view[match.start() :], cap)
            opened = self._opened("bzip2 stream", match.start(), result, place, cap)
            if opened is not None:
                yield opened
        for match in _XZ.finditer(blob):
            result = _unpack(lzma.LZMADecompressor(lzma.FORMAT_XZ), view[match.start() :], cap)
            opened = self._opened("xz stream", match.start(), result, place, cap)
            if opened is not None:
                yield opened

    def _pgp_packet(
        self, blob: bytes, start: int, cap: int, place: str, covered: list[tuple[int, int]]
    ) -> Iterator[Stream]:
        body = _pgp_body(blob, start)
        if not body:
            return
        algorithm, data = body[0], body[1:]
        form = f"OpenPGP compressed packet (algorithm {algorithm})"
        if algorithm == 1:
            result = _inflate(data, -15, cap)
        elif algorithm == 2:
            result = _inflate(data, 15, cap)
        else:
            result = _unpack(bz2.BZ2Decompressor(), data, cap)
        opened = self._opened(form, start, result, place, cap)
        if opened is not None:
            covered.append((start, start + len(body) + 6))
            yield opened
