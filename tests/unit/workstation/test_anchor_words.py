"""Which anchor covers a receipt, and how the interval is said."""

from __future__ import annotations

import datetime as dt

import pytest

from keys.timestamps import TimestampError
from workstation.anchors import Anchor, first_anchor, first_anchors, interval_words, parse_anchors

AT = dt.datetime(2026, 12, 6, 9, 0, 0, tzinfo=dt.UTC)


def _anchor(seq: int, minutes: int, verified: bool = True, tsa: str = "tsa") -> Anchor:
    return Anchor(
        seq, "ab" * 32, tsa, b"t", AT + dt.timedelta(minutes=minutes) if verified else None
    )


def test_the_first_anchor_is_the_earliest_verified_one_at_or_after_the_receipt() -> None:
    anchors = [_anchor(3, 0), _anchor(9, 60), _anchor(7, 30), _anchor(5, 10, verified=False)]
    assert first_anchor(anchors, 4) == anchors[2]
    assert first_anchor(anchors, 3) == anchors[0]
    assert first_anchor(anchors, 10) is None


def test_each_tsa_has_its_own_first_anchor_earliest_first() -> None:
    anchors = [
        _anchor(3, 5, tsa="b"),
        _anchor(3, 0, tsa="a"),
        _anchor(7, 1, tsa="b"),
        _anchor(4, 2, tsa="c", verified=False),
        _anchor(2, 0, tsa="d"),
    ]
    assert first_anchors(anchors, 3) == [anchors[1], anchors[2]]
    assert first_anchors(anchors, 8) == []


def test_the_interval_in_hours_minutes_and_seconds() -> None:
    assert interval_words("2026-12-06T07:47:57.000001Z", AT) == "1 h 12 min 02 s after the receipt"
    # A TSA clock a little behind the server's is said, not hidden.
    assert "2 s before the receipt's own time" in interval_words("2026-12-06T09:00:02Z", AT)


def test_a_damaged_anchor_line_is_named() -> None:
    with pytest.raises(TimestampError, match=r"x\.jsonl line 2: not an anchor"):
        parse_anchors(
            '{"chain":"custody","seq":1,"hash":"h","tsa":"t","token":"AA=="}\n{"chain":"audit"}',
            "x.jsonl",
        )
