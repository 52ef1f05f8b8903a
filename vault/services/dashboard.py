"""The analyst's dashboard: unread submissions, urgent and overdue cases, cases by
status, and what partners did on the analyst's referrals (statuses and counts only).
A handful of aggregate queries, whatever the volume; audited as one view."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vault.db import utcnow
from vault.models import (
    Case,
    CaseAssignee,
    CaseStatus,
    Reviewer,
    SeenSubmission,
    Source,
    Submission,
)
from vault.services import audit, cases, referral_activity
from vault.services.referral_activity import ReferralActivity

__all__ = ["Dashboard", "build"]

_OPEN = (CaseStatus.CLOSED, CaseStatus.DISCARDED)
LIST_LIMIT = 20
SOON = dt.timedelta(days=7)


@dataclass(frozen=True)
class Dashboard:
    unread_submissions: int
    new_cases: int
    urgent: list[Case]
    overdue: list[Case]
    due_soon: list[Case]
    by_status: dict[CaseStatus, int]
    assigned_to_me: int
    # The actor's referrals where a partner moved the status, wrote or answered the
    # source since the actor last viewed them.
    partner_activity: list[ReferralActivity] = field(default_factory=list)

    @property
    def max_count(self) -> int:
        return max(self.by_status.values(), default=0) or 1


def build(db: Session, actor: Reviewer, now: dt.datetime | None = None) -> Dashboard:
    cases.require_worker(db, actor)  # the same role rule as cases; refusals audited
    now = now or utcnow()
    open_case = Case.status.not_in(_OPEN)
    unread = db.scalar(
        select(func.count(Submission.id))
        .join(Source, Source.id == Submission.source_id)
        .where(
            Submission.deleted_at.is_(None),
            Source.deleted_at.is_(None),
            Source.pending.is_(False),
            ~exists().where(
                SeenSubmission.submission_id == Submission.id,
                SeenSubmission.reviewer_id == actor.id,
            ),
        )
    )
    counts = dict(db.execute(select(Case.status, func.count(Case.id)).group_by(Case.status)).all())
    by_status = {status: int(counts.get(status, 0)) for status in CaseStatus}

    def _cases(*where: ColumnElement[bool]) -> list[Case]:
        query = select(Case).where(open_case, *where)
        return list(db.scalars(query.order_by(Case.due_at, Case.id).limit(LIST_LIMIT)))

    mine = db.scalar(
        select(func.count(Case.id))
        .join(CaseAssignee, CaseAssignee.case_id == Case.id)
        .where(open_case, CaseAssignee.reviewer_id == actor.id)
    )
    board = Dashboard(
        unread_submissions=int(unread or 0),
        new_cases=by_status[CaseStatus.NEW],
        urgent=_cases(Case.urgent_medical.is_(True)),
        overdue=_cases(Case.due_at.is_not(None), Case.due_at < now),
        due_soon=_cases(Case.due_at.is_not(None), Case.due_at >= now, Case.due_at < now + SOON),
        by_status=by_status,
        assigned_to_me=int(mine or 0),
        partner_activity=referral_activity.for_dashboard(db, actor),
    )
    audit.record(db, actor, "dashboard_viewed")
    db.commit()
    return board
