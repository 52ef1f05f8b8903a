"""Triage edits of a case: priority, the urgent-medical flag, the due day, assignees and
labels, each change recorded with what it was and what it became
(`vault.services.case_triage`). Only analysts and admins edit (`cases.get_case`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.models import Case, CasePriority, Reviewer, Role
from vault.services.case_changes import Change
from vault.services.case_triage import (
    KEEP,
    InvalidCaseInputError,
    Keep,
    apply_triage,
    triage_of,
    valid_labels,
)
from vault.services.cases import get_case, require_worker

__all__ = [
    "add_label",
    "assign",
    "assignable_reviewers",
    "remove_label",
    "set_due",
    "set_priority",
    "set_urgent_medical",
    "unassign",
    "update_case",
]


def update_case(
    db: Session,
    actor: Reviewer,
    case_uuid: str,
    *,
    priority: CasePriority | Keep = KEEP,
    urgent_medical: bool | Keep = KEEP,
    due: dt.date | Keep | None = KEEP,
    labels: Iterable[str] | Keep = KEEP,
    assignee_uuids: Iterable[str] | Keep = KEEP,
) -> list[Change]:
    """Set the given triage attributes (KEEP: leave as is) and record one audit event
    per real change, with what it was and what it became; nothing when nothing changed.

    Newly added assignees must be active analysts or admins (InvalidCaseInputError);
    an assignee kept from before stays even if no longer assignable."""
    case = get_case(db, actor, case_uuid)
    after = triage_of(case)
    if not isinstance(priority, Keep):
        after = replace(after, priority=priority)
    if not isinstance(urgent_medical, Keep):
        after = replace(after, urgent=urgent_medical)
    if not isinstance(due, Keep):
        after = replace(after, due=due)
    if not isinstance(labels, Keep):
        after = replace(after, labels=frozenset(valid_labels(labels)))
    if not isinstance(assignee_uuids, Keep):
        after = replace(after, assignees=frozenset(assignee_uuids))
    return apply_triage(db, actor, case, after)


def set_priority(db: Session, actor: Reviewer, case_uuid: str, priority: CasePriority) -> Case:
    update_case(db, actor, case_uuid, priority=priority)
    return get_case(db, actor, case_uuid)


def set_urgent_medical(db: Session, actor: Reviewer, case_uuid: str, urgent: bool) -> Case:
    update_case(db, actor, case_uuid, urgent_medical=urgent)
    return get_case(db, actor, case_uuid)


def set_due(db: Session, actor: Reviewer, case_uuid: str, due: dt.datetime | None) -> Case:
    """Set the due day (a timezone-aware datetime; its UTC day is kept)."""
    if due is not None and due.tzinfo is None:
        raise InvalidCaseInputError("due dates are timezone-aware")
    day = due.astimezone(dt.UTC).date() if due is not None else None
    update_case(db, actor, case_uuid, due=day)
    return get_case(db, actor, case_uuid)


def assign(db: Session, actor: Reviewer, case_uuid: str, reviewer_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    wanted = triage_of(case).assignees | {reviewer_uuid}
    update_case(db, actor, case_uuid, assignee_uuids=wanted)
    return case


def unassign(db: Session, actor: Reviewer, case_uuid: str, reviewer_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    wanted = triage_of(case).assignees - {reviewer_uuid}
    update_case(db, actor, case_uuid, assignee_uuids=wanted)
    return case


def add_label(db: Session, actor: Reviewer, case_uuid: str, label: str) -> Case:
    (label,) = valid_labels([label])
    case = get_case(db, actor, case_uuid)
    update_case(db, actor, case_uuid, labels=triage_of(case).labels | {label})
    return case


def remove_label(db: Session, actor: Reviewer, case_uuid: str, label: str) -> Case:
    case = get_case(db, actor, case_uuid)
    update_case(db, actor, case_uuid, labels=triage_of(case).labels - {label})
    return case


def assignable_reviewers(db: Session, actor: Reviewer) -> list[Reviewer]:
    require_worker(db, actor)
    return list(
        db.scalars(
            select(Reviewer)
            .where(Reviewer.is_active.is_(True), Reviewer.role.in_([Role.ANALYST, Role.ADMIN]))
            .order_by(Reviewer.username)
        )
    )
