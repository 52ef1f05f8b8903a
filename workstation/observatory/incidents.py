"""From records to incidents: the source's consent for statistics, linked groups counted
once, corroboration.

Consent is read when it is needed, never stored with a record: from the consent
documents decrypted in the workspace (`workstation.consent`, the same reading the
judicial file's consent to court uses), so a source who withdraws their consent to
statistics stops being counted at the next release without anyone editing a record.
A record is usable for statistics only if every source it was coded from says yes
(its coding may draw on any of them); one that is not is kept, flagged.

Records linked as one incident count once. The incident is counted from one record of
the group: the first coded among the usable ones (a record of a source who said no
never lends its details to a count). Corroboration is the number of distinct sources
behind the group, and reports the number of distinct reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from workstation.consent import ConsentReading, latest_by_source, workspace_readings
from workstation.custody_log import Workspace
from workstation.observatory.model import IncidentRecord

__all__ = [
    "PURPOSE",
    "ConsentStatus",
    "Incident",
    "group_incidents",
    "statistics_consent",
]

PURPOSE = "statistics"


@dataclass(frozen=True)
class ConsentStatus:
    """Whether a record may be counted, and on what it rests."""

    usable: bool
    documents: tuple[str, ...]  # the consent documents relied on (stored names)
    problems: tuple[str, ...]  # why not, per source

    @property
    def flag(self) -> str:
        return "usable" if self.usable else "NOT USABLE for statistics"


def consent_of(record: IncidentRecord, latest: Mapping[str, ConsentReading]) -> ConsentStatus:
    documents, problems = [], []
    for link in record.sources:
        reading = latest.get(link.source or link.designation)
        who = f"source {link.designation} ({link.document})"
        if reading is None:
            problems.append(f"{who}: no consent document of this source is decrypted here")
        elif not reading.allows(PURPOSE):
            problems.append(
                f"{who}: their latest consent ({reading.document_name}) says "
                f"{PURPOSE}: {reading.answers[PURPOSE].value}"
            )
        else:
            documents.append(reading.document_name)
    return ConsentStatus(not problems, tuple(dict.fromkeys(documents)), tuple(problems))


def statistics_consent(
    workspace: Workspace, records: Iterable[IncidentRecord]
) -> dict[str, ConsentStatus]:
    """Each record's consent status, from the consent documents decrypted here."""
    latest = latest_by_source(workspace_readings(workspace))
    return {record.id: consent_of(record, latest) for record in records}


@dataclass(frozen=True)
class Incident:
    """A linked group of records: one incident."""

    group: str
    records: tuple[IncidentRecord, ...]  # in the order they were coded
    counted: IncidentRecord | None  # the record it is counted from; None: not counted

    @property
    def reports(self) -> int:
        return len({link.item for r in self.records for link in r.sources})

    @property
    def corroboration(self) -> int:
        """Independent sources: distinct sources across the group's reports."""
        return len({key for r in self.records for key in r.source_keys})

    @property
    def usable(self) -> bool:
        return self.counted is not None


def group_incidents(
    records: Iterable[IncidentRecord], consent: Mapping[str, ConsentStatus]
) -> list[Incident]:
    """Records by incident (linked group), each with the record it is counted from."""
    groups: dict[str, list[IncidentRecord]] = {}
    for record in records:
        groups.setdefault(record.group, []).append(record)
    incidents = []
    for group, members in groups.items():
        ordered: Sequence[IncidentRecord] = sorted(members, key=lambda r: (r.coded_at, r.id))
        usable = [r for r in ordered if consent.get(r.id) and consent[r.id].usable]
        incidents.append(Incident(group, tuple(ordered), usable[0] if usable else None))
    return sorted(incidents, key=lambda i: (i.records[0].coded_at, i.group))
