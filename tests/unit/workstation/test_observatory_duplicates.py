"""Duplicate scoring: ruled out by place, date or acts; otherwise scored with reasons."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.unit.workstation.test_observatory_model import SOURCE_B, TODAY, link_to, record
from workstation.observatory.duplicates import score_pair, suggest_duplicates
from workstation.observatory.model import Act, IncidentDate, Place, VictimGroup

WOMEN = (VictimGroup("female", "18-29", 2),)


def _date(text: str) -> IncidentDate:
    return IncidentDate.parse(text, today=TODAY)


class TestScore:
    """Each part of the score, and each reason a pair is not a candidate."""

    def test_the_same_incident_told_twice(self) -> None:
        a = record()
        b = record(sources=a.sources)
        score, reasons = score_pair(a, b) or (0.0, [])
        assert score == 1.0
        assert reasons == [
            "same region CD-SK",
            "dates overlap (2024-03-05 and 2024-03-05: 1 day(s) in common)",
            "acts in common: rape",
            "perpetrators in common: armed_group",
            "the same source reported both",
        ]

    @pytest.mark.parametrize(
        "other",
        [
            {"place": Place("BI", "BI-BM")},
            {"place": Place("CD", "CD-NK")},
            {"date": _date("2024-03-06")},
            {"acts": (Act("forced_nudity", WOMEN),)},
        ],
    )
    def test_ruled_out(self, other: dict[str, object]) -> None:
        assert score_pair(record(), record(**other)) is None

    def test_precision_weighs_the_date(self) -> None:
        same_day = score_pair(record(), record())
        in_month = score_pair(record(), record(date=_date("2024-03")))
        in_year = score_pair(record(), record(date=_date("2024")))
        assert same_day and in_month and in_year
        assert same_day[0] > in_month[0] > in_year[0]
        # region, date (any overlap + 1 day in 366), acts, perpetrators, the same source
        expected = 0.30 + 0.15 + 0.15 / 366 + 0.30 + 0.10 + 0.10
        assert in_year[0] == pytest.approx(expected, abs=1e-3)
        assert "dates overlap (2024-03-05 and 2024: 1 day(s) in common)" in in_year[1]

    def test_an_unknown_region_and_partial_acts(self) -> None:
        a = record(acts=(Act("rape", WOMEN), Act("forced_nudity", WOMEN)))
        b = record(
            place=Place("CD"),
            acts=(Act("rape", WOMEN, ("unknown",)),),
            sources=(link_to(SOURCE_B, "quiet_fox"),),
        )
        score, reasons = score_pair(a, b) or (0.0, [])
        assert score == pytest.approx(0.15 + 0.30 + 0.30 * 0.5)
        assert reasons[0] == "same country CD, region unknown on one side"
        assert not any(r.startswith("perpetrators") for r in reasons)


class TestSuggest:
    """Suggestions skip linked records and anything under the threshold, best first."""

    def test_suggestions(self) -> None:
        a = record(coded_at="1")
        b = record(coded_at="2", date=_date("2024-03"))
        c = record(coded_at="3", date=_date("2024"), place=Place("CD"))
        far = record(coded_at="4", place=Place("CD", "CD-NK"))
        found = suggest_duplicates([far, c, b, a])
        pairs = [(s.first, s.second) for s in found]
        assert pairs[0] == (a, b)
        assert (a, c) in pairs and (b, c) in pairs
        # A different region rules `far` out beside a and b; c does not know its region.
        assert [pair for pair in pairs if far in pair] == [(c, far)]
        assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
        assert suggest_duplicates([a, b, c], min_score=0.99) == []

    def test_linked_records_are_not_suggested(self) -> None:
        a = record()
        b = record(group=a.id)
        assert suggest_duplicates([a, b]) == []


def test_the_sweep_finds_every_pair_all_pairs_would() -> None:
    """Blocking by place and sweeping by date loses no candidate: compared with scoring
    every pair, on records of mixed countries, regions, precisions and acts."""
    rng = random.Random(19)
    places = [Place("CD", "CD-SK"), Place("CD", "CD-NK"), Place("CD"), Place("BI", "BI-BM")]
    dates = ["2024-03-05", "2024-03-06", "2024-03", "2024-04", "2024", "2023-12/2024-02-10"]
    acts = [Act("rape", WOMEN), Act("forced_nudity", WOMEN), Act("sexual_slavery", WOMEN)]
    records = [
        record(
            place=rng.choice(places),
            date=_date(rng.choice(dates)),
            acts=tuple(rng.sample(acts, rng.randint(1, 2))),
            coded_at=f"{n:04d}",
        )
        for n in range(160)
    ]
    expected = {
        frozenset((a.id, b.id))
        for a, b in itertools.combinations(records, 2)
        if score_pair(a, b) is not None
    }
    found = {frozenset((s.first.id, s.second.id)) for s in suggest_duplicates(records, 0.0)}
    assert found == expected and len(expected) > 1000
