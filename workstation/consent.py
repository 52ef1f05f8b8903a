"""The workstation reads consent itself: from every decrypted ASSIST request and change of
consent, the answers per purpose, and for each source the latest. It enforces them (no
judicial file without consent to use in court, no statistics without consent to
statistics) and shows the consent record an analyst carries to the case page: the
document's stored name, the answers and a check code (`vault.consent_record`), nothing else.

A source's consent in force is read from their consent-bearing documents in the order
of their number N (`N-designation-msg.gpg`: N counts up for each thing a source sends):
for each purpose, the latest answer stated (a document may leave a question "as
before": schema version 2). "Not now" and a purpose never stated are unknown, and unknown
is no. Only documents decrypted here count: an earlier answer the workstation has not
seen reads as unknown, so the record errs towards no.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vault import reports
from vault.consent_record import Answer, check_code, fold, purposes, stated_answers
from workstation.custody_log import Workspace
from workstation.errors import WorkstationError

__all__ = [
    "ConsentReading",
    "ConsentRefusedError",
    "consenting_sources",
    "fold_readings",
    "latest_by_source",
    "reading_of",
    "record_text",
    "require_consent",
    "require_consent_by_item",
    "stated_in",
    "workspace_readings",
]

_NUMBER = re.compile(r"^(?P<number>[0-9]{1,9})-(?P<designation>[a-z0-9_]{1,64})-msg\.gpg$")
_MAX_REPORT_BYTES = 1_000_000  # a report is < 100,000 characters; anything larger is not one


class ConsentRefusedError(WorkstationError):
    """The latest consent known here does not allow this use; `problems` says why, per
    source. Recorded in the custody log (item ids and the purpose only)."""

    def __init__(self, purpose: str, problems: Sequence[str]) -> None:
        self.purpose = purpose
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"REFUSED: no consent to {purpose}:\n{lines}")


@dataclass(frozen=True)
class ConsentReading:
    """One consent-bearing document as read here, and the consent in force after it."""

    document_name: str  # the stored name, `3-sober_moth-msg.gpg`
    number: int
    designation: str  # as in file names: sober_moth
    stated: Mapping[str, bool | None]  # what this document says (maybe not every purpose)
    answers: Mapping[str, Answer]  # in force after it, from the documents read here
    source_uuid: str | None = None  # known in a workspace, not for single downloads
    item_uuid: str | None = None
    received_at: str | None = None
    earlier: tuple[str, ...] = ()  # the earlier documents folded into `answers`

    @property
    def source_key(self) -> str:
        return self.source_uuid or self.designation

    @property
    def code(self) -> str:
        return check_code(self.document_name, self.answers)

    def allows(self, purpose: str) -> bool:
        return self.answers.get(purpose) is Answer.YES


def reading_of(
    document: Mapping[str, Any],
    document_name: str,
    *,
    source_uuid: str | None = None,
    item_uuid: str | None = None,
    received_at: str | None = None,
) -> ConsentReading | None:
    """The consent in a report document (as `reports.loads` returns it), or None; its
    answers are this document's alone until `fold_readings` adds the earlier ones."""
    match = _NUMBER.match(document_name)
    stated = stated_answers(document)
    if match is None or stated is None:
        return None
    return ConsentReading(
        document_name,
        int(match["number"]),
        match["designation"],
        stated,
        fold([stated]),
        source_uuid=source_uuid,
        item_uuid=item_uuid,
        received_at=received_at,
    )


def fold_readings(readings: Iterable[ConsentReading]) -> list[ConsentReading]:
    """Each reading with the consent in force after it: its source's documents read here,
    in order of N, folded (see `vault.consent_record.fold`)."""
    by_source: dict[str, list[ConsentReading]] = {}
    for reading in readings:
        by_source.setdefault(reading.source_key, []).append(reading)
    folded = []
    for series in by_source.values():
        series.sort(key=lambda r: r.number)
        for index, reading in enumerate(series):
            before = series[:index]
            folded.append(
                replace(
                    reading,
                    answers=fold([r.stated for r in [*before, reading]]),
                    earlier=tuple(r.document_name for r in before),
                )
            )
    return folded


def record_text(reading: ConsentReading) -> str:
    """What the analyst enters on the case page, in one block."""
    lines = [f"Consent record: {reading.document_name}"]
    if reading.received_at:
        lines.append(f"  given (received by the server): {reading.received_at}")
    for purpose in purposes():
        note = ""
        if purpose not in reading.stated:
            note = (
                "  (as before)" if reading.earlier else "  (not stated: decrypt earlier documents)"
            )
        lines.append(f"  {purpose}: {reading.answers[purpose].value}{note}")
    if reading.earlier:
        lines.append(f"  with earlier documents: {', '.join(reading.earlier)}")
    lines.append(f"  check code: {reading.code}")
    return "\n".join(lines)


def _decrypted_message(workspace: Workspace, item_uuid: str) -> Path | None:
    found = [p for p in (workspace.dir("originals") / item_uuid).glob("*") if p.is_file()]
    return found[0] if len(found) == 1 and found[0].name.endswith("-msg.txt") else None


def workspace_readings(workspace: Workspace) -> list[ConsentReading]:
    """Every consent-bearing document decrypted in the workspace, folded per source."""
    readings = []
    for meta_path in sorted(workspace.dir("evidence").glob("*/item.json")):
        meta = json.loads(meta_path.read_text())
        original = _decrypted_message(workspace, str(meta["uuid"]))
        if original is None or original.stat().st_size > _MAX_REPORT_BYTES:
            continue
        try:
            document = reports.loads(original.read_text(encoding="utf-8"))
        except (reports.ReportError, UnicodeDecodeError):
            continue  # not a consent this workstation can read: it counts for nothing
        if document is None:
            continue
        reading = reading_of(
            document,
            Path(meta["path"]).name,
            source_uuid=meta.get("source_uuid"),
            item_uuid=meta["uuid"],
            received_at=meta["receipt"]["body"].get("received_at"),
        )
        if reading is not None:
            readings.append(reading)
    return fold_readings(readings)


def latest_by_source(readings: Iterable[ConsentReading]) -> dict[str, ConsentReading]:
    """Each source's latest consent (by source uuid, else by designation)."""
    latest: dict[str, ConsentReading] = {}
    for reading in readings:
        key = reading.source_key
        if key not in latest or reading.number > latest[key].number:
            latest[key] = reading
    return latest


def consenting_sources(readings: Iterable[ConsentReading], purpose: str) -> set[str]:
    """The sources whose latest consent allows `purpose`: what statistics may count."""
    return {key for key, r in latest_by_source(readings).items() if r.allows(purpose)}


def stated_in(
    readings: Iterable[ConsentReading], reading: ConsentReading, purpose: str
) -> ConsentReading | None:
    """The document, among `readings`, whose answer for `purpose` is the one in force
    after `reading`: `reading` itself if it states it, else its source's latest earlier
    document that does (a later document may leave a question "as before")."""
    stating = [
        r
        for r in readings
        if r.source_key == reading.source_key and r.number <= reading.number and purpose in r.stated
    ]
    return max(stating, key=lambda r: r.number, default=None)


def require_consent(
    workspace: Workspace, item_uuids: Sequence[str], purpose: str
) -> dict[str, ConsentReading]:
    """The latest consent of each source of the items, if every one allows `purpose`.

    Raises ConsentRefusedError naming each source that does not (logged).
    """
    return {
        reading.source_key: reading
        for reading in require_consent_by_item(workspace, item_uuids, purpose).values()
    }


def require_consent_by_item(
    workspace: Workspace, item_uuids: Sequence[str], purpose: str
) -> dict[str, ConsentReading]:
    """`require_consent`, keyed by item: the consent each item was allowed by."""
    latest = latest_by_source(workspace_readings(workspace))
    used: dict[str, ConsentReading] = {}
    problems = []
    for item_uuid in dict.fromkeys(item_uuids):
        meta_path = workspace.dir("evidence") / item_uuid / "item.json"
        if not meta_path.exists():
            raise WorkstationError(f"{item_uuid}: not imported in this workspace")
        meta = json.loads(meta_path.read_text())
        source = str(meta.get("source_uuid"))
        reading = latest.get(source)
        who = f"item {item_uuid} (source {meta.get('designation')})"
        if reading is None:
            problems.append(
                f"{who}: no consent document of this source is decrypted here: import and "
                "decrypt their latest ASSIST request or change of consent"
            )
        elif not reading.allows(purpose):
            problems.append(
                f"{who}: their latest consent ({reading.document_name}) says "
                f"{purpose}: {reading.answers[purpose].value}"
            )
        else:
            used[item_uuid] = reading
    if problems:
        # Ids and the purpose only: the log goes into every judicial file.
        workspace.log.append(
            "consent-refused", {"purpose": purpose, "items": list(dict.fromkeys(item_uuids))}
        )
        raise ConsentRefusedError(purpose, problems)
    return used
