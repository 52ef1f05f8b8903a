"""What an audit event's object uuid names, for people reading the log.

An event keeps only the object's uuid (the log outlives the objects it speaks of). To
show "BU-2026-0001" or "sober moth" instead, the uuids of a page are resolved in ONE
query: a UNION ALL over the tables whose rows events name. A uuid that no table holds
any more is a deleted object (the page says so, with a short id).

The object filter goes the other way: a case reference, a source designation or a
username becomes the uuids of that object and of what hangs from it (a case's notes and
referrals, a source's submissions, replies, care requests and consent records), so one
search finds everything that happened around it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, cast, literal, null, select, union_all
from sqlalchemy.orm import Session

from vault.models import (
    CareRequest,
    Case,
    CaseNote,
    ConsentRecord,
    ObservatoryRelease,
    PartnerOrg,
    Referral,
    ReferralMessage,
    Reply,
    Reviewer,
    Source,
    Submission,
)

__all__ = ["ObjectRef", "find_objects", "is_uuid_prefix", "resolve", "submission_number"]

_UUIDISH = re.compile(r"[0-9a-f][0-9a-f-]{5,35}")


@dataclass(frozen=True)
class ObjectRef:
    """A live object: its kind (the table it lives in), what people call it and, for
    some kinds, a second name (a file name for a submission or reply, the organisation
    of a referral)."""

    kind: str
    label: str
    extra: str | None = None


def submission_number(filename: str | None) -> int | None:
    """The source's submission number a stored file name starts with ("3-…-doc.gpg")."""
    head = (filename or "").split("-", 1)[0]
    return int(head) if head.isascii() and head.isdigit() else None


def resolve(db: Session, uuids: Collection[str]) -> dict[str, ObjectRef]:
    """Each uuid that still names a row, with its reference; one query for all."""
    wanted = sorted({u for u in uuids if u})
    if not wanted:
        return {}

    def kind(name: str) -> ColumnElement[str]:
        return literal(name, String)

    none = cast(null(), String)
    parts = [
        select(Case.uuid, kind("case"), Case.reference, none).where(Case.uuid.in_(wanted)),
        select(Source.uuid, kind("source"), Source.designation, none).where(
            Source.uuid.in_(wanted)
        ),
        select(Submission.uuid, kind("submission"), Source.designation, Submission.filename)
        .join(Source, Source.id == Submission.source_id)
        .where(Submission.uuid.in_(wanted)),
        select(Reply.uuid, kind("reply"), Source.designation, Reply.filename)
        .join(Source, Source.id == Reply.source_id)
        .where(Reply.uuid.in_(wanted)),
        select(CaseNote.uuid, kind("note"), Case.reference, none)
        .join(Case, Case.id == CaseNote.case_id)
        .where(CaseNote.uuid.in_(wanted)),
        select(Referral.uuid, kind("referral"), Case.reference, PartnerOrg.name)
        .join(Case, Case.id == Referral.case_id)
        .join(PartnerOrg, PartnerOrg.id == Referral.org_id)
        .where(Referral.uuid.in_(wanted)),
        select(ReferralMessage.uuid, kind("referral_message"), Case.reference, PartnerOrg.name)
        .join(Referral, Referral.id == ReferralMessage.referral_id)
        .join(Case, Case.id == Referral.case_id)
        .join(PartnerOrg, PartnerOrg.id == Referral.org_id)
        .where(ReferralMessage.uuid.in_(wanted)),
        select(CareRequest.uuid, kind("care_request"), Source.designation, none)
        .join(Source, Source.id == CareRequest.source_id)
        .where(CareRequest.uuid.in_(wanted)),
        select(ConsentRecord.uuid, kind("consent_record"), Source.designation, none)
        .join(Source, Source.id == ConsentRecord.source_id)
        .where(ConsentRecord.uuid.in_(wanted)),
        select(Reviewer.uuid, kind("reviewer"), Reviewer.username, none).where(
            Reviewer.uuid.in_(wanted)
        ),
        select(PartnerOrg.uuid, kind("partner_org"), PartnerOrg.name, none).where(
            PartnerOrg.uuid.in_(wanted)
        ),
        select(
            ObservatoryRelease.uuid, kind("observatory_release"), ObservatoryRelease.created, none
        ).where(ObservatoryRelease.uuid.in_(wanted)),
    ]
    rows = db.execute(union_all(*parts)).all()
    return {str(u): ObjectRef(str(k), str(label), extra) for u, k, label, extra in rows}


def find_objects(db: Session, text: str) -> list[str] | None:
    """The uuids an admin means by `text`: a case reference, a source designation or a
    username (with what hangs from that object), else a uuid prefix as shown for
    deleted objects. None when `text` names nothing known and is no uuid prefix."""
    text = text.strip()
    case = db.scalar(select(Case).where(Case.reference == text.upper()))
    if case is not None:
        referrals = select(Referral.id).where(Referral.case_id == case.id)
        found = [case.uuid]
        found += db.scalars(select(CaseNote.uuid).where(CaseNote.case_id == case.id))
        found += db.scalars(select(Referral.uuid).where(Referral.case_id == case.id))
        found += db.scalars(
            select(ReferralMessage.uuid).where(ReferralMessage.referral_id.in_(referrals))
        )
        return found
    source = db.scalar(select(Source).where(Source.designation == text.lower()))
    if source is not None:
        found = [source.uuid]
        for model in (Submission, Reply, CareRequest, ConsentRecord):
            found += db.scalars(select(model.uuid).where(model.source_id == source.id))
        return found
    reviewer = db.scalar(select(Reviewer.uuid).where(Reviewer.username == text))
    if reviewer is not None:
        return [reviewer]
    return None


def is_uuid_prefix(text: str) -> bool:
    """Six or more characters of a uuid (the short ids the page shows)."""
    return _UUIDISH.fullmatch(text.strip().lower()) is not None
