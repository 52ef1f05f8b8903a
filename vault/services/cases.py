"""Case work: create cases from sources and submissions, link and unlink them, move
them through the status workflow, set priority, the urgent-medical flag, assignees,
labels and due dates.

Least privilege lives here, not in the views: only active analysts and admins work on
cases. Partners will reach cases only through referrals (`vault.services.referrals`,
not built yet); until then every partner attempt is refused *and audited*. Every read
and change is audited by identifiers only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import NotFoundError, VaultError
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
    Role,
    Source,
    Submission,
)
from vault.services import audit
from vault.services.audit_log import RefusalRecordedError
from vault.services.case_workflow import check_transition

__all__ = [
    "CaseFilter",
    "InvalidCaseInputError",
    "add_label",
    "assign",
    "assignable_reviewers",
    "can_work_cases",
    "cases_for_source",
    "create_case",
    "get_case",
    "get_case_by_reference",
    "link_source",
    "link_submission",
    "list_cases",
    "open_case",
    "remove_label",
    "require_worker",
    "set_due",
    "set_priority",
    "set_status",
    "set_urgent_medical",
    "unassign",
    "unlink_source",
    "unlink_submission",
]

LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_REFERENCE_ATTEMPTS = 5


class InvalidCaseInputError(VaultError):
    """A case change with invalid input (unknown label format, no sources, bad assignee)."""


@dataclass(frozen=True)
class CaseFilter:
    status: CaseStatus | None = None
    label: str | None = None
    urgent_only: bool = False
    assigned_to: Reviewer | None = None


def can_work_cases(reviewer: Reviewer) -> bool:
    return reviewer.is_active and reviewer.role in (Role.ANALYST, Role.ADMIN)


def require_worker(db: Session, actor: Reviewer, object_uuid: str | None = None) -> None:
    """Refuse (and record the refusal, committed even though the request fails)."""
    if not can_work_cases(actor):
        audit.record(db, actor, "case_access_denied", "case", object_uuid)
        db.commit()
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


def _sources(db: Session, uuids: Iterable[str]) -> list[Source]:
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


def _submissions(db: Session, uuids: Iterable[str]) -> list[Submission]:
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


def create_case(
    db: Session,
    actor: Reviewer,
    source_uuids: Iterable[str] = (),
    submission_uuids: Iterable[str] = (),
    *,
    priority: CasePriority = CasePriority.NORMAL,
    urgent_medical: bool = False,
) -> Case:
    """A new case (status new) linking the given sources and submissions.

    A submission's source is linked too: a case always knows who to reply to.
    """
    require_worker(db, actor)
    sources = _sources(db, source_uuids)
    submissions = _submissions(db, submission_uuids)
    if not sources and not submissions:
        raise InvalidCaseInputError("a case needs at least one source or submission")
    source_ids = {s.id for s in sources} | {s.source_id for s in submissions}
    for attempt in range(_REFERENCE_ATTEMPTS):
        case = Case(
            reference=_next_reference(db, utcnow().year),
            priority=priority,
            urgent_medical=urgent_medical,
            created_by_id=actor.id,
        )
        # A savepoint: if a concurrent creation took this reference, retry with the next.
        try:
            with db.begin_nested():
                db.add(case)
                db.flush()
        except IntegrityError:
            if attempt == _REFERENCE_ATTEMPTS - 1:
                raise
            continue
        break
    db.add_all(CaseSource(case_id=case.id, source_id=sid) for sid in sorted(source_ids))
    db.add_all(CaseSubmission(case_id=case.id, submission_id=s.id) for s in submissions)
    audit.record(db, actor, "case_created", "case", case.uuid)
    db.commit()
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
    db.commit()
    return case


def list_cases(db: Session, actor: Reviewer, flt: CaseFilter | None = None) -> list[Case]:
    require_worker(db, actor)
    flt = flt or CaseFilter()
    query = select(Case)
    if flt.status is not None:
        query = query.where(Case.status == flt.status)
    if flt.urgent_only:
        query = query.where(Case.urgent_medical.is_(True))
    if flt.label:
        query = query.where(
            select(CaseLabel.case_id)
            .where(CaseLabel.case_id == Case.id, CaseLabel.label == flt.label)
            .exists()
        )
    if flt.assigned_to is not None:
        query = query.where(
            select(CaseAssignee.case_id)
            .where(CaseAssignee.case_id == Case.id, CaseAssignee.reviewer_id == flt.assigned_to.id)
            .exists()
        )
    cases = list(
        db.scalars(
            query.order_by(Case.urgent_medical.desc(), Case.updated_at.desc(), Case.id.desc())
        )
    )
    audit.record(db, actor, "cases_listed")
    db.commit()
    return cases


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


def _change(db: Session, actor: Reviewer, case: Case, action: str) -> Case:
    _touch(case)
    audit.record(db, actor, action, "case", case.uuid)
    db.commit()
    return case


def link_source(db: Session, actor: Reviewer, case_uuid: str, source_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    (source,) = _sources(db, [source_uuid])
    if db.get(CaseSource, (case.id, source.id)) is None:
        db.add(CaseSource(case_id=case.id, source_id=source.id))
    return _change(db, actor, case, "case_source_linked")


def unlink_source(db: Session, actor: Reviewer, case_uuid: str, source_uuid: str) -> Case:
    """Unlink a source and its submissions; the last source cannot go (a case with no
    one to reply to is an orphan: discard it instead)."""
    case = get_case(db, actor, case_uuid)
    (source,) = _sources(db, [source_uuid])
    if db.get(CaseSource, (case.id, source.id)) is None:
        raise NotFoundError("source not linked")
    count = db.scalar(select(func.count()).where(CaseSource.case_id == case.id)) or 0
    if count <= 1:
        raise InvalidCaseInputError("a case keeps at least one source")
    db.execute(
        delete(CaseSource).where(CaseSource.case_id == case.id, CaseSource.source_id == source.id)
    )
    db.execute(
        delete(CaseSubmission).where(
            CaseSubmission.case_id == case.id,
            CaseSubmission.submission_id.in_(
                select(Submission.id).where(Submission.source_id == source.id)
            ),
        )
    )
    db.expire(case)
    return _change(db, actor, case, "case_source_unlinked")


def link_submission(db: Session, actor: Reviewer, case_uuid: str, submission_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    (submission,) = _submissions(db, [submission_uuid])
    if db.get(CaseSubmission, (case.id, submission.id)) is None:
        db.add(CaseSubmission(case_id=case.id, submission_id=submission.id))
    if db.get(CaseSource, (case.id, submission.source_id)) is None:
        db.add(CaseSource(case_id=case.id, source_id=submission.source_id))
    return _change(db, actor, case, "case_submission_linked")


def unlink_submission(db: Session, actor: Reviewer, case_uuid: str, submission_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    (submission,) = _submissions(db, [submission_uuid])
    link = db.get(CaseSubmission, (case.id, submission.id))
    if link is None:
        raise NotFoundError("submission not linked")
    db.delete(link)
    db.flush()
    db.expire(case)
    return _change(db, actor, case, "case_submission_unlinked")


def set_status(
    db: Session, actor: Reviewer, case_uuid: str, target: CaseStatus, reason: str | None = None
) -> Case:
    case = get_case(db, actor, case_uuid)
    recorded = check_transition(case.status, target, reason)
    case.history.append(
        CaseStatusChange(
            actor_id=actor.id, from_status=case.status, to_status=target, reason=recorded
        )
    )
    case.status, case.status_reason = target, recorded
    return _change(db, actor, case, "case_status_changed")


def set_priority(db: Session, actor: Reviewer, case_uuid: str, priority: CasePriority) -> Case:
    case = get_case(db, actor, case_uuid)
    case.priority = priority
    return _change(db, actor, case, "case_priority_changed")


def set_urgent_medical(db: Session, actor: Reviewer, case_uuid: str, urgent: bool) -> Case:
    case = get_case(db, actor, case_uuid)
    case.urgent_medical = urgent
    return _change(db, actor, case, "case_urgent_set" if urgent else "case_urgent_cleared")


def set_due(db: Session, actor: Reviewer, case_uuid: str, due: dt.datetime | None) -> Case:
    if due is not None and due.tzinfo is None:
        raise InvalidCaseInputError("due dates are timezone-aware")
    case = get_case(db, actor, case_uuid)
    case.due_at = due
    return _change(db, actor, case, "case_due_set" if due else "case_due_cleared")


def _assignable(db: Session, reviewer_uuid: str) -> Reviewer:
    reviewer = db.scalar(select(Reviewer).where(Reviewer.uuid == reviewer_uuid))
    if reviewer is None or not can_work_cases(reviewer):
        # Partners are never assignees: their access comes only from referrals.
        raise InvalidCaseInputError("only active analysts and admins can be assigned")
    return reviewer


def assign(db: Session, actor: Reviewer, case_uuid: str, reviewer_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    reviewer = _assignable(db, reviewer_uuid)
    if db.get(CaseAssignee, (case.id, reviewer.id)) is None:
        db.add(CaseAssignee(case_id=case.id, reviewer_id=reviewer.id))
    db.flush()
    db.expire(case)
    return _change(db, actor, case, "case_assigned")


def unassign(db: Session, actor: Reviewer, case_uuid: str, reviewer_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    reviewer = db.scalar(select(Reviewer).where(Reviewer.uuid == reviewer_uuid))
    if reviewer is not None:
        db.execute(
            delete(CaseAssignee).where(
                CaseAssignee.case_id == case.id, CaseAssignee.reviewer_id == reviewer.id
            )
        )
    db.expire(case)
    return _change(db, actor, case, "case_unassigned")


def add_label(db: Session, actor: Reviewer, case_uuid: str, label: str) -> Case:
    label = label.strip().lower()
    if not LABEL_PATTERN.fullmatch(label):
        raise InvalidCaseInputError("labels are short lower-case words")
    case = get_case(db, actor, case_uuid)
    if label not in {lb.label for lb in case.labels}:
        case.labels.append(CaseLabel(label=label))
    return _change(db, actor, case, "case_label_added")


def remove_label(db: Session, actor: Reviewer, case_uuid: str, label: str) -> Case:
    case = get_case(db, actor, case_uuid)
    case.labels[:] = [lb for lb in case.labels if lb.label != label]
    return _change(db, actor, case, "case_label_removed")


def assignable_reviewers(db: Session, actor: Reviewer) -> list[Reviewer]:
    require_worker(db, actor)
    return list(
        db.scalars(
            select(Reviewer)
            .where(Reviewer.is_active.is_(True), Reviewer.role.in_([Role.ANALYST, Role.ADMIN]))
            .order_by(Reviewer.username)
        )
    )


def get_case_by_reference(db: Session, actor: Reviewer, reference: str) -> Case:
    """The case with this reference (as typed: case-insensitive, spaces trimmed)."""
    require_worker(db, actor)
    case = db.scalar(select(Case).where(Case.reference == reference.strip().upper()))
    if case is None:
        raise NotFoundError("no such case")
    return case
