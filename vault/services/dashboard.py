"""The analyst's dashboard: the care queue's waiting requests (for those who may open
it: how many, and each request still waiting for someone, or taken by the viewer and
not answered yet, in the queue's order, linking to it), unread submissions, urgent
and overdue cases, cases by status, and what partners did on the analyst's referrals
(statuses and counts only). A handful of aggregate queries, whatever the volume;
audited as one view."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vault.db import utcnow
from vault.models import (
    CareRequest,
    CareStatus,
    Case,
    CaseAssignee,
    CaseStatus,
    Reply,
    Reviewer,
    Source,
    UnreadSubmission,
)
from vault.services import audit, care, care_queue, cases, referral_activity
from vault.services.referral_activity import ReferralActivity

__all__ = ["CLOCK", "CareCounts", "CareWaiting", "Dashboard", "build"]

_OPEN = (CaseStatus.CLOSED, CaseStatus.DISCARDED)
LIST_LIMIT = 20
SOON = dt.timedelta(days=7)
# Emergency care after sexual violence (PEP, emergency contraception) must start within
# 72 hours: an urgent request's clock runs from its arrival (the latest it can start).
CLOCK = dt.timedelta(hours=72)


@dataclass(frozen=True)
class CareCounts:
    """Care requests of live sources waiting for someone to take them (no content)."""

    waiting: int
    urgent: int


@dataclass(frozen=True)
class CareWaiting:
    """A care request waiting on the dashboard: who sent it and when, never what."""

    uuid: str
    designation: str
    urgent: bool
    created_at: dt.datetime
    taken_by_me: bool  # taken by the viewer, not answered yet (else untaken)

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - self.created_at

    def clock_left(self, now: dt.datetime) -> dt.timedelta:
        """What is left of the 72 hours counted from arrival (negative once past)."""
        return self.created_at + CLOCK - now


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
    # Totals of the lists above (the lists stop at LIST_LIMIT).
    urgent_count: int = 0
    overdue_count: int = 0
    due_soon_count: int = 0
    # None: the actor may not open the care queue (the dashboard does not mention it).
    care: CareCounts | None = None
    # The requests waiting for someone (untaken, or taken by the actor and unanswered),
    # in the queue's order, at most LIST_LIMIT.
    care_waiting: list[CareWaiting] = field(default_factory=list)

    @property
    def max_count(self) -> int:
        return max(self.by_status.values(), default=0) or 1


def build(db: Session, actor: Reviewer, now: dt.datetime | None = None) -> Dashboard:
    cases.require_worker(db, actor)  # the same role rule as cases; refusals audited
    now = now or utcnow()
    open_case = Case.status.not_in(_OPEN)
    # The unread rows kept for each reader (vault.services.unread): an index range,
    # where looking for a missing seen row under every submission grew with them.
    unread = db.scalar(select(func.count()).where(UnreadSubmission.reviewer_id == actor.id))
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

    def _n(where: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((open_case & where, 1), else_=0)), 0)

    due = Case.due_at.is_not(None)
    totals = db.execute(
        select(
            _n(Case.urgent_medical.is_(True)),
            _n(due & (Case.due_at < now)),
            _n(due & (Case.due_at >= now) & (Case.due_at < now + SOON)),
        )
    ).one()
    board = Dashboard(
        unread_submissions=int(unread or 0),
        new_cases=by_status[CaseStatus.NEW],
        urgent=_cases(Case.urgent_medical.is_(True)),
        overdue=_cases(Case.due_at.is_not(None), Case.due_at < now),
        due_soon=_cases(Case.due_at.is_not(None), Case.due_at >= now, Case.due_at < now + SOON),
        by_status=by_status,
        assigned_to_me=int(mine or 0),
        partner_activity=referral_activity.for_dashboard(db, actor),
        urgent_count=int(totals[0]),
        overdue_count=int(totals[1]),
        due_soon_count=int(totals[2]),
        care=_care_counts(db, actor),
        care_waiting=_care_waiting(db, actor),
    )
    audit.record(db, actor, "dashboard_viewed")
    return board


def _care_counts(db: Session, actor: Reviewer) -> CareCounts | None:
    """Untaken requests, urgent ones apart, for those the care queue admits (one query)."""
    if not care.is_care_member(db, actor):
        return None
    waiting, urgent = db.execute(
        select(
            func.count(CareRequest.id),
            func.coalesce(func.sum(case((CareRequest.urgent.is_(True), 1), else_=0)), 0),
        )
        .join(Source, Source.id == CareRequest.source_id)
        .where(CareRequest.status == CareStatus.OPEN, Source.deleted_at.is_(None))
    ).one()
    return CareCounts(waiting=int(waiting or 0), urgent=int(urgent or 0))


def _care_waiting(db: Session, actor: Reviewer) -> list[CareWaiting]:
    """The requests of live sources waiting for someone: untaken, or taken by `actor`
    with no reply to the source since the request arrived. In the care queue's order
    (care_queue.queue_order: urgent first, then oldest first, sources taking turns so
    that a flood from one codename buries nobody); at most LIST_LIMIT. Nothing opened."""
    if not care.is_care_member(db, actor):
        return []
    answered = exists().where(
        Reply.source_id == CareRequest.source_id, Reply.created_at >= CareRequest.created_at
    )
    mine = (
        (CareRequest.status == CareStatus.TAKEN) & (CareRequest.taken_by_id == actor.id) & ~answered
    )
    rows = db.execute(
        select(
            CareRequest.id,
            CareRequest.uuid,
            CareRequest.source_id,
            CareRequest.urgent,
            CareRequest.created_at,
            CareRequest.status,
            Source.designation,
        )
        .join(Source, Source.id == CareRequest.source_id)
        .where(Source.deleted_at.is_(None), (CareRequest.status == CareStatus.OPEN) | mine)
    ).all()
    return [
        CareWaiting(
            uuid=row.uuid,
            designation=row.designation,
            urgent=row.urgent,
            created_at=row.created_at,
            taken_by_me=row.status is CareStatus.TAKEN,
        )
        for row in care_queue.queue_order(rows)[:LIST_LIMIT]
    ]
