"""Cases: create them from sources and submissions, open and find them, move them
through the status workflow. What a case holds is `case_links`; its triage (priority,
the urgent-medical flag, assignees, labels, due day) is edited in `case_edits`.

Least privilege lives here, not in the views: only active analysts and admins work on
cases. Partners reach cases only through referrals (`vault.services.referrals`); every
partner attempt here is refused *and audited*. Every read and change is audited by
identifiers only, and a change records exactly what changed (`vault.services.
case_changes`): one event per real change, none when nothing changed.

A source already in an open case gets a second case only when the caller confirms it
(`SecondCaseError` otherwise): the analyst is told and offered that case first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import NotFoundError
from vault.models import (
    Case,
    CaseAssignee,
    CaseLabel,
    CasePriority,
    CaseSource,
    CaseStatus,
    CaseStatusChange,
    CaseSubmission,
    Reviewer,
    Source,
    Submission,
)
from vault.services import audit
from vault.services.audit_log import RefusalRecordedError
from vault.services.case_changes import LABEL_PATTERN, Triage, changes, default_priority
from vault.services.case_triage import (
    KEEP,
    InvalidCaseInputError,
    assignable,
    can_work_cases,
    due_at,
    record_changes,
    record_referral_effect,
    triage_of,
    valid_labels,
)
from vault.services.case_workflow import check_transition, path_from_new
from vault.transaction import savepoint

__all__ = [
    "KEEP",
    "LABEL_PATTERN",
    "InvalidCaseInputError",
    "SecondCaseError",
    "audit_change",
    "can_work_cases",
    "cases_for_source",
    "create_case",
    "find_sources",
    "find_submissions",
    "get_case",
    "get_case_by_reference",
    "open_case",
    "open_cases_of_sources",
    "record_referral_effect",
    "require_worker",
    "set_status",
    "sources_exist",
    "triage_of",
]

_REFERENCE_ATTEMPTS = 5


class SecondCaseError(InvalidCaseInputError):
    """A source is already in an open case and a second one was not confirmed."""

    def __init__(self, open_cases: list[Case]) -> None:
        super().__init__("this source is already in an open case")
        self.open_cases = open_cases


def require_worker(db: Session, actor: Reviewer, object_uuid: str | None = None) -> None:
    """Refuse (and record the refusal, kept even though the transaction fails)."""
    if not can_work_cases(actor):
        audit.record_refusal(db, actor, "case_access_denied", "case", object_uuid)
        raise RefusalRecordedError("no access to cases")


def _touch(case: Case) -> None:
    case.updated_at = utcnow()


def _next_reference(db: Session, year: int) -> str:
    prefix = f"BU-{year}-"
    # Longest first, then highest: BU-2026-10000 sorts after BU-2026-9999.
    last = db.scalar(
        select(Case.reference)
        .where(Case.reference.like(f"{prefix}%"))
        .order_by(func.length(Case.reference).desc(), Case.reference.desc())
        .limit(1)
    )
    number = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{number:04d}"


def find_sources(db: Session, uuids: Iterable[str]) -> list[Source]:
    """The live sources with these uuids (NotFoundError if one is missing)."""
    wanted = set(uuids)
    if not wanted:
        return []
    found = list(
        db.scalars(
            select(Source).where(
                Source.uuid.in_(wanted), Source.pending.is_(False), Source.deleted_at.is_(None)
            )
        )
    )
    if len(found) != len(wanted):
        raise NotFoundError("no such source")
    return found


def find_submissions(db: Session, uuids: Iterable[str]) -> list[Submission]:
    """The live submissions with these uuids (NotFoundError if one is missing)."""
    wanted = set(uuids)
    if not wanted:
        return []
    found = list(
        db.scalars(
            select(Submission).where(Submission.uuid.in_(wanted), Submission.deleted_at.is_(None))
        )
    )
    if len(found) != len(wanted):
        raise NotFoundError("no such submission")
    return found


def sources_exist(db: Session, source_uuids: Iterable[str]) -> bool:
    """Whether every one of these sources exists (and is neither pending nor deleted)."""
    try:
        return bool(find_sources(db, source_uuids))
    except NotFoundError:
        return False


def open_cases_of_sources(db: Session, source_uuids: Iterable[str]) -> list[Case]:
    """The open cases (neither closed nor discarded) any of these sources is in."""
    wanted = set(source_uuids)
    if not wanted:
        return []
    return list(
        db.scalars(
            select(Case)
            .join(CaseSource, CaseSource.case_id == Case.id)
            .join(Source, Source.id == CaseSource.source_id)
            .where(
                Source.uuid.in_(wanted),
                Case.status.not_in([CaseStatus.CLOSED, CaseStatus.DISCARDED]),
            )
            .distinct()
            .order_by(Case.id.desc())
        )
    )


def create_case(
    db: Session,
    actor: Reviewer,
    source_uuids: Iterable[str] = (),
    submission_uuids: Iterable[str] = (),
    *,
    priority: CasePriority | None = None,
    urgent_medical: bool = False,
    labels: Iterable[str] = (),
    assignee_uuids: Iterable[str] | None = None,
    due: dt.date | None = None,
    second_case_confirmed: bool = False,
    status: CaseStatus = CaseStatus.NEW,
) -> Case:
    """A new case linking the given sources and submissions, with its
    triage attributes set in the same transaction as its creation.

    A submission's source is linked too: a case always knows who to reply to. Without a
    `priority`, an urgent case starts at high, others at normal; without
    `assignee_uuids`, the creator is assigned (an empty list: nobody). A source already
    in an open case raises SecondCaseError unless `second_case_confirmed`.

    The case starts new and, for a later `status` (one of CREATION_STATUSES: triage,
    verified, judicial), walks the workflow's reason-free moves to it, each one in its
    history and audited as any move (`case_status_changed`).

    Audited as `case_created` with the priority, urgent flag and due date it starts
    with, then one event per label and assignee, then one per status move, all
    committed together.
    """
    require_worker(db, actor)
    steps = path_from_new(status)  # InvalidTransitionError before anything is written
    sources = find_sources(db, source_uuids)
    submissions = find_submissions(db, submission_uuids)
    if not sources and not submissions:
        raise InvalidCaseInputError("a case needs at least one source or submission")
    labels = valid_labels(labels)
    source_ids = {s.id for s in sources} | {s.source_id for s in submissions}
    linked_uuids = {s.uuid for s in sources} | {s.source.uuid for s in submissions}
    already = open_cases_of_sources(db, linked_uuids)
    if already and not second_case_confirmed:
        raise SecondCaseError(already)
    assignees = (
        [actor]
        if assignee_uuids is None
        else [assignable(db, u) for u in sorted(set(assignee_uuids))]
    )
    priority = priority or default_priority(urgent_medical)
    for attempt in range(_REFERENCE_ATTEMPTS):
        case = Case(
            reference=_next_reference(db, utcnow().year),
            priority=priority,
            urgent_medical=urgent_medical,
            due_at=due_at(due),
            created_by_id=actor.id,
        )
        # A savepoint: if a concurrent creation took this reference, retry with the next.
        try:
            with savepoint(db):
                db.add(case)
                db.flush()
        except IntegrityError:
            if attempt == _REFERENCE_ATTEMPTS - 1:
                raise
            continue
        break
    db.add_all(CaseSource(case_id=case.id, source_id=sid) for sid in sorted(source_ids))
    db.add_all(CaseSubmission(case_id=case.id, submission_id=s.id) for s in submissions)
    case.labels.extend(CaseLabel(label=label) for label in labels)
    db.add_all(CaseAssignee(case_id=case.id, reviewer_id=r.id) for r in assignees)
    db.flush()
    detail: dict[str, str | bool | None] = {
        "priority": priority.value,
        "urgent_medical": urgent_medical,
        "due": due.isoformat() if due else None,
    }
    if already:
        detail["second_case"] = True
    audit.record(db, actor, "case_created", "case", case.uuid, detail=detail)
    start = Triage(priority, urgent_medical, due, frozenset(), frozenset())
    done = replace(start, labels=frozenset(labels), assignees=frozenset(r.uuid for r in assignees))
    record_changes(db, actor, case, changes(start, done))
    for target in steps:
        _move(db, actor, case, target, None)
    return case


def open_received_case(
    db: Session, sources: Iterable[Source], submissions: Iterable[Submission], label: str
) -> Case:
    """A new case, unassigned and New, for what another organisation's instance
    transferred to us (vault.services.case_transfers): no account made it, so it is
    audited `case_created` without an actor, with `label` (e.g. "transferred")."""
    (label,) = valid_labels([label])
    for attempt in range(_REFERENCE_ATTEMPTS):
        case = Case(reference=_next_reference(db, utcnow().year), created_by_id=None)
        try:
            with savepoint(db):
                db.add(case)
                db.flush()
        except IntegrityError:
            if attempt == _REFERENCE_ATTEMPTS - 1:
                raise
            continue
        break
    db.add_all(CaseSource(case_id=case.id, source_id=s.id) for s in sources)
    db.add_all(CaseSubmission(case_id=case.id, submission_id=s.id) for s in submissions)
    case.labels.append(CaseLabel(label=label))
    db.flush()
    detail = {"priority": case.priority.value, "urgent_medical": False, "due": None}
    audit.record(db, None, "case_created", "case", case.uuid, detail=detail)
    audit.record(db, None, "case_label_added", "case", case.uuid, detail={"label": label})
    return case


def get_case(db: Session, actor: Reviewer, case_uuid: str) -> Case:
    """The case, for a reviewer allowed to work on cases; not audited (callers are)."""
    require_worker(db, actor, case_uuid)
    case = db.scalar(select(Case).where(Case.uuid == case_uuid))
    if case is None:
        raise NotFoundError("no such case")
    return case


def open_case(db: Session, actor: Reviewer, case_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    audit.record(db, actor, "case_viewed", "case", case.uuid)
    return case


def cases_for_source(db: Session, actor: Reviewer, source_uuid: str) -> list[Case]:
    """Cases a source is linked to (for the source page); empty for non-workers."""
    if not can_work_cases(actor):
        return []
    return list(
        db.scalars(
            select(Case)
            .join(CaseSource, CaseSource.case_id == Case.id)
            .join(Source, Source.id == CaseSource.source_id)
            .where(Source.uuid == source_uuid)
            .order_by(Case.id)
        )
    )


def audit_change(
    db: Session, actor: Reviewer, case: Case, action: str, detail: audit.Detail | None = None
) -> Case:
    """Mark `case` as changed now and audit the change (by identifiers only)."""
    _touch(case)
    audit.record(db, actor, action, "case", case.uuid, detail=detail)
    return case


def _move(db: Session, actor: Reviewer, case: Case, target: CaseStatus, reason: str | None) -> None:
    """One workflow move, in the case's history and audited (not committed)."""
    recorded = check_transition(case.status, target, reason)
    detail = {"field": "status", "from": case.status.value, "to": target.value}
    case.history.append(
        CaseStatusChange(
            actor_id=actor.id, from_status=case.status, to_status=target, reason=recorded
        )
    )
    case.status, case.status_reason = target, recorded
    _touch(case)
    audit.record(
        db, actor, "case_status_changed", "case", case.uuid, detail={**detail, "reason": recorded}
    )


def set_status(
    db: Session, actor: Reviewer, case_uuid: str, target: CaseStatus, reason: str | None = None
) -> Case:
    case = get_case(db, actor, case_uuid)
    _move(db, actor, case, target, reason)
    return case


def get_case_by_reference(db: Session, actor: Reviewer, reference: str) -> Case:
    """The case with this reference (as typed: case-insensitive, spaces trimmed)."""
    require_worker(db, actor)
    case = db.scalar(select(Case).where(Case.reference == reference.strip().upper()))
    if case is None:
        raise NotFoundError("no such case")
    return case
