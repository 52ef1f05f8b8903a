"""From coded incidents to the rows a release counts (`release_input.ReleaseRow`).

One incident (a linked group of records) gives one row per group of victims (sex and
age band), taken from the record it is counted from (`incidents.group_incidents`: the
first coded among those whose sources consented to statistics). Nothing else of the
records crosses: no source, no report, no note; `incident_id` is the group's id, which
the release never publishes.

The record codes acts with their own victims (HURIDOCS); a row names a victim group and
the acts it suffered. The same victims coded under several acts are one group: its count
is the largest count given for it under any act (adding them up would count a person
once per act), its acts those under which it appears. A row has one perpetrator
category: the known one when the acts agree; when they name several, the first in the
report's order (`vault.reports.PERPETRATORS`) — a release counts incidents by victims, a
split by perpetrator across categories is not something one incident can give. "unknown"
sex or age band becomes None, as the row expects.

By default only incidents that may be counted are given. `include_refused=True` also
gives the others, flagged `consent_statistics=False` and built from their first record,
for a release that states how many incidents it held back; it must never count them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import cast

from workstation.custody_log import Workspace
from workstation.observatory.incidents import (
    ConsentStatus,
    Incident,
    group_incidents,
    statistics_consent,
)
from workstation.observatory.model import IncidentRecord
from workstation.observatory.release_input import (
    ACTS,
    Act,
    AgeBand,
    Perpetrator,
    Precision,
    ReleaseRow,
    Sex,
)
from workstation.observatory.store import open_book
from workstation.observatory.vocabulary import PERPETRATORS, UNKNOWN

__all__ = ["release_rows", "workspace_release_rows"]


def _perpetrator(categories: Iterable[str]) -> Perpetrator:
    known = {c for c in categories if c != UNKNOWN}
    for category in PERPETRATORS:
        if category in known:
            return cast(Perpetrator, category)
    return "unknown"


def _rows(incident: Incident, record: IncidentRecord, consented: bool) -> list[ReleaseRow]:
    groups: dict[tuple[str, str], dict[str, object]] = {}
    for act in record.acts:
        for victims in act.victims:
            group = groups.setdefault(
                (victims.sex, victims.age_band), {"count": 0, "acts": set(), "perps": set()}
            )
            group["count"] = max(cast(int, group["count"]), victims.count)
            cast(set[str], group["acts"]).add(act.category)
            cast(set[str], group["perps"]).update(act.perpetrators)
    date = record.date
    rows = []
    for (sex, age_band), group in groups.items():
        acts = cast(set[str], group["acts"])
        rows.append(
            ReleaseRow(
                incident_id=incident.group,
                date=date.start,
                precision=cast(Precision, date.precision.value),
                country=record.place.country,
                region=record.place.region,
                acts=tuple(cast(Act, a) for a in ACTS if a in acts),
                victim_sex=None if sex == UNKNOWN else cast(Sex, sex),
                age_band=None if age_band == UNKNOWN else cast(AgeBand, age_band),
                victim_count=cast(int, group["count"]),
                perpetrator=_perpetrator(cast(set[str], group["perps"])),
                consent_statistics=consented,
                date_end=date.end if date.precision.value == "range" else None,
            )
        )
    return rows


def release_rows(
    records: Iterable[IncidentRecord],
    consent: Mapping[str, ConsentStatus],
    *,
    include_refused: bool = False,
) -> list[ReleaseRow]:
    """The rows of `records` (every record of a workspace: links are resolved here),
    given each record's consent status (`incidents.statistics_consent`)."""
    rows: list[ReleaseRow] = []
    for incident in group_incidents(records, consent):
        if incident.counted is not None:
            rows += _rows(incident, incident.counted, True)
        elif include_refused:
            rows += _rows(incident, incident.records[0], False)
    return rows


def workspace_release_rows(
    workspace: Workspace, gnupg_home: Path, passphrases: Sequence[str]
) -> list[ReleaseRow]:
    """The counted rows of every incident coded in a workspace, consent read now."""
    with open_book(workspace, gnupg_home, passphrases) as book:
        records = list(book.records.values())
    return release_rows(records, statistics_consent(workspace, records))
