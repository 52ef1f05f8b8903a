"""Applying triage changes and referral effects to a loaded case, and the small rules
they share with `vault.services.cases` (who may work cases and be assigned, labels, due
dates). No role checks here: callers (`cases`, `referrals`) check them first. Changes
are added to the caller's session with their audit events; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import VaultError
from vault.models import (
    Case,
    CaseAssignee,
    CaseLabel,
    CaseStatus,
    CaseStatusChange,
    ReferralStatus,
    Reviewer,
    Role,
)
from vault.services import audit
from vault.services.case_changes import LABEL_PATTERN, Change, Triage, changes
from vault.services.case_workflow import follow_referral

__all__ = [
    "KEEP",
    "InvalidCaseInputError",
    "Keep",
    "apply_triage",
    "assignable",
    "can_work_cases",
    "due_at",
    "record_changes",
    "record_referral_effect",
    "triage_of",
    "valid_labels",
]


class InvalidCaseInputError(VaultError):
    """A case change with invalid input (unknown label format, no sources, bad assignee)."""


# A due date is stored at noon UTC: the form speaks in days, and noon keeps the
# day the same in every time zone the team works in.
DUE_TIME = dt.time(12, tzinfo=dt.UTC)


class Keep(enum.Enum):
    KEEP = "keep"


# update_case: leave this attribute as it is.
KEEP = Keep.KEEP


def can_work_cases(reviewer: Reviewer) -> bool:
    return reviewer.is_active and reviewer.role in (Role.ANALYST, Role.ADMIN)


def due_at(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, DUE_TIME) if day is not None else None


def valid_labels(labels: Iterable[str]) -> list[str]:
    found: list[str] = []
    for label in labels:
        label = label.strip().lower()
        if not LABEL_PATTERN.fullmatch(label):
            raise InvalidCaseInputError("labels are short lower-case words")
        if label not in found:
            found.append(label)
    return found


def triage_of(case: Case) -> Triage:
    """The case's triage attributes as they are now."""
    return Triage(
        priority=case.priority,
        urgent=case.urgent_medical,
        due=case.due_at.date() if case.due_at else None,
        labels=frozenset(lb.label for lb in case.labels),
        assignees=frozenset(r.uuid for r in case.assignees),
    )


def record_changes(db: Session, actor: Reviewer, case: Case, found: list[Change]) -> None:
    for change in found:
        audit.record(db, actor, change.action, "case", case.uuid, detail=change.detail())


def assignable(db: Session, reviewer_uuid: str) -> Reviewer:
    reviewer = db.scalar(select(Reviewer).where(Reviewer.uuid == reviewer_uuid))
    if reviewer is None or not can_work_cases(reviewer):
        # Partners are never assignees: their access comes only from referrals.
        raise InvalidCaseInputError("only active analysts and admins can be assigned")
    return reviewer


def apply_triage(db: Session, actor: Reviewer, case: Case, after: Triage) -> list[Change]:
    """Make `case`'s triage attributes `after`, with one audit event per real change;
    nothing (and no event) when nothing changed. Newly added assignees must be active
    analysts or admins (InvalidCaseInputError, before anything changes); an assignee
    kept from before stays even if no longer assignable."""
    before = triage_of(case)
    found = changes(before, after)
    if not found:
        return []
    added = [assignable(db, u) for u in sorted(after.assignees - before.assignees)]
    case.priority, case.urgent_medical = after.priority, after.urgent
    if after.due != before.due:
        case.due_at = due_at(after.due)
    case.labels[:] = [lb for lb in case.labels if lb.label in after.labels]
    case.labels.extend(CaseLabel(label=lb) for lb in sorted(after.labels - before.labels))
    db.add_all(CaseAssignee(case_id=case.id, reviewer_id=r.id) for r in added)
    gone = before.assignees - after.assignees
    if gone:
        db.execute(
            delete(CaseAssignee).where(
                CaseAssignee.case_id == case.id,
                CaseAssignee.reviewer_id.in_(select(Reviewer.id).where(Reviewer.uuid.in_(gone))),
            )
        )
    db.flush()
    db.expire(case, ["assignees"])
    case.updated_at = utcnow()
    record_changes(db, actor, case, found)
    return found


def record_referral_effect(
    db: Session,
    actor: Reviewer,
    case: Case,
    referral_status: ReferralStatus,
    referral_uuid: str,
    others_active: bool,
) -> CaseStatus | None:
    """Move the case as its referral's new status implies (`case_workflow.
    follow_referral`), in the caller's transaction (the caller commits). The actor may
    be the partner: the move is the referral's consequence, not a case edit, and is
    audited with the referral's uuid. Returns the new status, or None."""
    move = follow_referral(case.status, referral_status, others_active)
    if move is None:
        return None
    target, reason = move
    detail = {"field": "status", "from": case.status.value, "to": target.value}
    case.history.append(
        CaseStatusChange(
            actor_id=actor.id, from_status=case.status, to_status=target, reason=reason
        )
    )
    case.status, case.status_reason = target, reason
    case.updated_at = utcnow()
    audit.record(
        db,
        actor,
        "case_status_changed",
        "case",
        case.uuid,
        detail={**detail, "reason": reason, "referral": referral_uuid},
    )
    return target
