"""What a marker looks like once something has written it.

Two kinds of form. Encodings that keep the marker's bytes in one contiguous, predictable
string are searched for directly (needles): UTF-8 and its Unicode normal forms, UTF-16
and UTF-32 in both byte orders, hex, and base64 (standard and URL-safe) at each of the
three byte alignments. Encodings whose look depends on what surrounds the marker or on
the encoder's choices (JSON, JavaScript, Python and C string escapes; percent-encoding;
HTML character references; base64 blocks of any content) are undone instead: the text is
decoded (a view) and searched again, so `\\u0627`, `%D8%A7`, `&#1575;` and `&#x627;` are
all found whatever the encoder escaped.
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Shorter markers would match by chance (a 4-byte needle turns up in random data).
MIN_MARKER_BYTES = 6


@dataclass(frozen=True)
class Needle:
    marker: str
    form: str
    data: bytes


def _base64_inside(raw: bytes, shift: int, encode: Callable[[bytes], bytes]) -> bytes:
    """The base64 characters that depend on `raw` alone when it starts `shift` bytes into
    a 3-byte group: whatever precedes or follows it in the encoded data."""
    padded = b"\0" * shift + raw
    whole_groups = padded[: len(padded) - len(padded) % 3]
    return encode(whole_groups)[(0, 2, 3)[shift] :]


def needles_for(marker: str) -> list[Needle]:
    """Every direct encoding of `marker` (and of its NFC/NFD forms, if they differ)."""
    if len(marker.encode()) < MIN_MARKER_BYTES:
        raise ValueError(f"marker {marker!r} is shorter than {MIN_MARKER_BYTES} bytes")
    found: dict[bytes, Needle] = {}

    def add(form: str, data: bytes) -> None:
        found.setdefault(data, Needle(marker, form, data))

    variants = {"": marker}
    for normal in ("NFC", "NFD"):
        variants.setdefault(normal, unicodedata.normalize(normal, marker))
    for normal, text in variants.items():
        if normal and text == marker:
            continue
        suffix = f" ({normal})" if normal else ""
        raw = text.encode()
        add(f"utf-8{suffix}", raw)
        add(f"form-encoded spaces (+){suffix}", text.replace(" ", "+").encode())
        for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            add(f"{codec}{suffix}", text.encode(codec))
        add(f"hex{suffix}", raw.hex().encode())
        add(f"HEX{suffix}", raw.hex().upper().encode())
        for shift in range(3):
            add(
                f"base64 at alignment {shift}{suffix}", _base64_inside(raw, shift, base64.b64encode)
            )
            add(
                f"urlsafe base64 at alignment {shift}{suffix}",
                _base64_inside(raw, shift, base64.urlsafe_b64encode),
            )
    return list(found.values())


# -- text views ------------------------------------------------------------------------

# A run of valid UTF-8 text (control characters other than tab and newlines excluded).
# Random bytes (ciphertext) almost never hold a long one, so views cost nothing there.
_TEXT_CHAR = (
    rb"(?:[\t\n\r\x20-\x7e]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
    rb"|[\xf0-\xf4][\x80-\xbf]{3})"
)


@functools.lru_cache(maxsize=16)
def _text_run(min_length: int) -> re.Pattern[bytes]:
    """Runs long enough to hold an encoded marker: every form here takes at least one
    character per byte of the marker."""
    return re.compile(_TEXT_CHAR + b"{%d,}" % min_length)


_SIMPLE_ESCAPES = {
    b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"v": b"\v",
    b"a": b"\a", b"0": b"\0", b"e": b"\x1b", b"/": b"/", b"\\": b"\\", b'"': b'"', b"'": b"'",
}  # fmt: skip
_ESCAPE = re.compile(
    rb"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # surrogate pair
    rb"|\\u\{([0-9a-fA-F]{1,6})\}"  # JavaScript \u{...}
    rb"|\\u([0-9a-fA-F]{4})"
    rb"|\\U([0-9a-fA-F]{8})"
    rb"|\\x([0-9a-fA-F]{2})"
    rb"|\\([0-3][0-7]{2})"  # octal byte (C, PostgreSQL escape format)
    rb"|\\([nrtbfva0e/\\\"'])"
)


def _code_point(value: int) -> bytes:
    if value > 0x10FFFF:
        return b"?"
    return chr(value).encode("utf-8", "surrogatepass")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    high, low, braced, u4, u8, x2, octal, simple = match.groups()
    if high is not None:
        value = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return _code_point(value)
    if braced is not None or u4 is not None or u8 is not None:
        return _code_point(int(braced or u4 or u8, 16))
    if x2 is not None:
        return bytes([int(x2, 16)])
    if octal is not None:
        return bytes([int(octal, 8)])
    return _SIMPLE_ESCAPES[simple]


_PERCENT = re.compile(rb"%([0-9a-fA-F]{2})")
_PERCENT_U = re.compile(rb"%u([0-9a-fA-F]{4})")  # the old JavaScript escape()


def _url_decoded(text: bytes) -> bytes:
    text = _PERCENT_U.sub(lambda m: _code_point(int(m.group(1), 16)), text)
    text = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), text)
    return text.replace(b"+", b" ")


_ENTITY = re.compile(rb"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")


def _entity_decoded(text: bytes) -> bytes:
    return _ENTITY.sub(lambda m: html.unescape(m.group(0).decode("ascii")).encode(), text)


# Base64 blocks, wrapped (MIME, PEM, OpenPGP armour) or not, standard or URL-safe.
_BASE64_BLOCK = re.compile(rb"[A-Za-z0-9+/_\-]{16,}={0,2}(?:\r?\n[A-Za-z0-9+/_\-]{4,}={0,2})*")


def _base64_decoded(block: bytes) -> bytes:
    compact = block.translate(None, b"\r\n=").replace(b"-", b"+").replace(b"_", b"/")
    compact = compact[: len(compact) - (len(compact) % 4 == 1)]
    return base64.b64decode(compact + b"=" * (-len(compact) % 4))


@dataclass(frozen=True)
class View:
    """`data`, decoded from the text at `offset` of the blob it came from, as `form`."""

    form: str
    offset: int
    data: bytes


# Where a decoding could change something: an escape, a percent-encoded byte, a
# character reference (a literal first character keeps this fast on binary data).
_TRIGGER = re.compile(
    rb"[\\%&](?:(?<=\\)[uUx0-3nrtbfvae/\\\"']|(?<=%)(?:[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})"
    rb"|(?<=&)(?:#|[A-Za-z][A-Za-z0-9]{1,31};))"
)
# No encoding here takes more than this many characters for one byte (`\u002d` for `-`).
_WIDEST = 8


def _regions(blob: bytes, reach: int) -> Iterator[tuple[int, int]]:
    """Stretches of `blob` around its triggers, merged: an encoded marker holds a trigger
    (else a needle finds it) and is at most `reach` bytes long on either side of it."""
    start = end = -1
    for match in _TRIGGER.finditer(blob):
        lo, hi = max(0, match.start() - reach), match.end() + reach
        if lo > end:
            if end > start:
                yield start, end
            start = lo
        end = max(end, hi)
    if end > start:
        yield start, min(end, len(blob))


def text_views(blob: bytes, min_length: int, max_length: int) -> Iterator[View]:
    """Every decoding of the text in `blob` that could reveal a marker of `min_length`
    to `max_length` bytes: base64 blocks decoded; escapes, percent-encoding and
    character references undone, line by line (an encoder escapes a newline)."""
    for block in _BASE64_BLOCK.finditer(blob):
        try:
            decoded = _base64_decoded(block.group(0))
        except (binascii.Error, ValueError):
            continue
        if len(decoded) >= min_length:
            yield View("base64 decoded", block.start(), decoded)
    text_run = _text_run(min_length)
    for lo, hi in _regions(blob, _WIDEST * max_length):
        for run in text_run.finditer(blob, lo, hi):
            at = run.start()
            for line in run.group(0).split(b"\n"):
                if len(line) >= min_length:
                    yield from _line_views(line, at)
                at += len(line) + 1


def _line_views(line: bytes, at: int) -> Iterator[View]:
    if b"\\" in line and _ESCAPE.search(line):
        yield View("string escapes undone", at, _ESCAPE.sub(_unescape_one, line))
    if b"%" in line and (_PERCENT.search(line) or _PERCENT_U.search(line)):
        yield View("percent-encoding undone", at, _url_decoded(line))
    if b"&" in line and _ENTITY.search(line):
        yield View("HTML character references undone", at, _entity_decoded(line))
