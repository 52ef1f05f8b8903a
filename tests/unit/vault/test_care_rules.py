"""Pure rules of the care tier: what makes a request urgent, and the queue's order."""

from __future__ import annotations

import datetime as dt

import pytest

from vault.models import CareRequest
from vault.services.care import care_document, is_urgent
from vault.services.care_queue import queue_key, queue_order


class TestUrgency:
    """Urgent: it may have happened within 72 hours, or help is needed today."""

    @pytest.mark.parametrize(
        ("assist", "urgent"),
        [
            ({"within_72_hours": "yes"}, True),
            ({"within_72_hours": "unsure"}, True),
            ({"within_72_hours": "no", "urgency": "today"}, True),
            ({"within_72_hours": None, "urgency": "today"}, True),
            ({"within_72_hours": "no", "urgency": "this_week"}, False),
            ({"within_72_hours": None, "urgency": None}, False),
            ({}, False),
        ],
    )
    def test_rule(self, assist: dict[str, object], urgent: bool) -> None:
        assert is_urgent(assist) is urgent


class TestOrder:
    """Urgent first, then oldest first; ties by the order recorded."""

    def test_sorting(self) -> None:
        base = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
        items = [
            (1, False, base - dt.timedelta(hours=5)),
            (2, True, base),
            (3, True, base - dt.timedelta(minutes=40)),
            (4, True, base),
            (5, False, base - dt.timedelta(hours=6)),
        ]
        ordered = sorted(items, key=lambda item: queue_key(item[1], item[2], item[0]))
        assert [item[0] for item in ordered] == [3, 2, 4, 5, 1]

    def test_sources_take_turns(self) -> None:
        """Everyone's first request before anyone's second, whatever their number."""
        base = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)

        def request(request_id: int, source: int, urgent: bool, minutes: int) -> CareRequest:
            return CareRequest(
                id=request_id,
                source_id=source,
                urgent=urgent,
                created_at=base - dt.timedelta(minutes=minutes),
            )

        flood = [request(i, 1, True, 100 - i) for i in range(1, 11)]
        later = request(20, 2, False, 5)  # not urgent, newer than the whole flood
        urgent = request(21, 3, True, 1)
        ordered = queue_order([*flood, later, urgent])
        assert [r.id for r in ordered[:4]] == [1, 21, 20, 2]
        assert [r.id for r in ordered[3:]] == list(range(2, 11))


def test_the_care_copy_adds_the_language_only() -> None:
    document = {"schema": "backup.source-report", "kind": "assist", "assist": {"needs": []}}
    assert care_document(document, "rw") == {**document, "language": "rw"}
    assert "language" not in document
