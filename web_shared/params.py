"""Numbers read from a query string, for both apps.

`str.isdigit()` is true for "²" and "①", which `int()` refuses, and `int()` takes "٣"
and "1_000": neither test alone is a parser. A page number or a count in a URL is
written with ASCII digits; anything else means "the default".
"""

from __future__ import annotations

import re

__all__ = ["query_int"]

_ASCII_DIGITS = re.compile(r"[0-9]+")


def query_int(raw: str | None, default: int, *, max_digits: int = 6) -> int:
    """`raw` as a non-negative integer of at most `max_digits` ASCII digits, else `default`."""
    if raw is None or len(raw) > max_digits or not _ASCII_DIGITS.fullmatch(raw):
        return default
    return int(raw)
