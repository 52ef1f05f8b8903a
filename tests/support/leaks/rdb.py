"""LZF-compressed strings in Redis's serialisation (RDB files and DUMP payloads).

Redis compresses every string longer than 20 bytes it writes to an RDB file or a DUMP
payload with LZF, when that makes it shorter: such a string is the byte 0xC3, its
compressed and uncompressed lengths (RDB length encoding), then the LZF data.
"""

from __future__ import annotations

from collections.abc import Iterator

_MAX_STRING = 512 * 1024 * 1024  # Redis's own limit for one string


def _length(data: bytes, pos: int) -> tuple[int, int] | None:
    """(value, next position) of the RDB length at `pos`, or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, pos + 1
    if kind == 1:
        if pos + 1 >= len(data):
            return None
        return ((first & 0x3F) << 8) | data[pos + 1], pos + 2
    if first == 0x80 and pos + 5 <= len(data):
        return int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
    if first == 0x81 and pos + 9 <= len(data):
        return int.from_bytes(data[pos + 1 : pos + 9], "big"), pos + 9
    return None


def lzf_decompress(data: bytes, expected: int) -> bytes | None:
    """liblzf's format; None unless `data` is exactly a stream of `expected` bytes."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        ctrl = data[pos]
        pos += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            run = ctrl + 1
            if pos + run > len(data):
                return None
            out += data[pos : pos + run]
            pos += run
        else:  # a back reference
            length = ctrl >> 5
            if length == 7:
                if pos >= len(data):
                    return None
                length += data[pos]
                pos += 1
            if pos >= len(data):
                return None
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[pos] - 1
            pos += 1
            length += 2
            if ref < 0:
                return None
            if ref + length <= len(out):
                out += out[ref : ref + length]
            else:  # overlapping: byte by byte, as LZF means it
                for index in range(length):
                    out.append(out[ref + index])
        if len(out) > expected:
            return None
    return bytes(out) if len(out) == expected else None


def lzf_strings(data: bytes, min_length: int) -> Iterator[tuple[int, bytes]]:
    """(offset, decompressed string) for every LZF-compressed string in `data`."""
    pos = data.find(b"\xc3")
    while pos != -1:
        compressed = _length(data, pos + 1)
        if compressed is not None:
            clen, at = compressed
            plain = _length(data, at)
            if plain is not None:
                ulen, start = plain
                if min_length <= ulen <= _MAX_STRING and 0 < clen <= len(data) - start:
                    opened = lzf_decompress(data[start : start + clen], ulen)
                    if opened is not None:
                        yield pos, opened
        pos = data.find(b"\xc3", pos + 1)
