"""Coded incidents become release rows: one per incident and victim group, from the
record counted, never from a record whose source did not consent."""

from __future__ import annotations

import datetime as dt

from tests.unit.workstation.test_observatory_model import (
    SOURCE_A,
    SOURCE_B,
    TODAY,
    link_to,
    record,
)
from vault.consent_record import fold
from workstation.consent import ConsentReading
from workstation.observatory.incidents import consent_of
from workstation.observatory.model import Act, IncidentDate, IncidentRecord, Place, VictimGroup
from workstation.observatory.release_input import ReleaseRow
from workstation.observatory.to_release import release_rows

LATEST = {
    key: ConsentReading("2-x-msg.gpg", 2, "x", s, fold([s]), key)
    for key, s in ((SOURCE_A, {"statistics": True}), (SOURCE_B, {"statistics": False}))
}


def _rows(records: list[IncidentRecord], **kw: bool) -> list[ReleaseRow]:
    return release_rows(records, {r.id: consent_of(r, LATEST) for r in records}, **kw)


def test_victims_under_several_acts_are_one_group() -> None:
    women = VictimGroup("female", "18-29", 2)
    coded = record(
        date=IncidentDate.parse("2024-02-20/2024-03-02", today=TODAY),
        acts=(
            Act("forced_nudity", (women,), ("unknown",)),
            Act("rape", (VictimGroup("female", "18-29", 3), VictimGroup("male", "unknown", 1)),
                ("armed_group", "state_forces")),
        ),
    )  # fmt: skip
    rows = _rows([coded])
    assert rows == [
        ReleaseRow(
            incident_id=coded.group,
            date=dt.date(2024, 2, 20),
            precision="range",
            country="CD",
            region="CD-SK",
            acts=("rape", "forced_nudity"),
            victim_sex="female",
            age_band="18-29",
            victim_count=3,
            perpetrator="state_forces",
            consent_statistics=True,
            date_end=dt.date(2024, 3, 2),
        ),
        ReleaseRow(
            incident_id=coded.group,
            date=dt.date(2024, 2, 20),
            precision="range",
            country="CD",
            region="CD-SK",
            acts=("rape",),
            victim_sex="male",
            age_band=None,
            victim_count=1,
            perpetrator="state_forces",
            consent_statistics=True,
            date_end=dt.date(2024, 3, 2),
        ),
    ]


def test_a_linked_incident_counts_once_from_a_consenting_record() -> None:
    refused = record(
        sources=(link_to(SOURCE_B, "quiet_fox"),), coded_at="1", place=Place("CD", "CD-NK")
    )
    consented = record(group=refused.id, coded_at="2", date=IncidentDate.parse("2024-03"))
    rows = _rows([refused, consented])
    assert len(rows) == 1
    assert (rows[0].incident_id, rows[0].region, rows[0].precision) == (
        refused.id,
        "CD-SK",
        "month",
    )
    assert rows[0].date == dt.date(2024, 3, 1) and rows[0].date_end is None


def test_refused_incidents_only_when_asked_and_flagged() -> None:
    refused = record(sources=(link_to(SOURCE_B, "quiet_fox"),))
    assert _rows([refused]) == []
    [row] = _rows([refused], include_refused=True)
    assert row.consent_statistics is False and row.perpetrator == "armed_group"
