"""What partners did on a referral since a reviewer last viewed it, without content.

For an analyst's referrals (those they made, and those of the cases assigned to them):
whether the partner moved the status since the analyst's last view, how many partner
messages and how many partner replies to the source arrived since. Counts and statuses
only: nothing here opens a ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vault.db import utcnow
from vault.models import (
    CaseAssignee,
    Referral,
    ReferralMessage,
    ReferralSeen,
    ReferralStatus,
    Reply,
    Reviewer,
    Role,
)
from vault.transaction import savepoint

__all__ = ["LIST_LIMIT", "ReferralActivity", "for_case", "for_dashboard", "mark_seen"]

LIST_LIMIT = 20


@dataclass(frozen=True)
class ReferralActivity:
    referral: Referral
    status_changed: bool  # moved by someone else since the last view
    new_messages: int  # partner messages since the last view
    new_replies: int  # partner replies to the source since the last view

    @property
    def is_new(self) -> bool:
        return self.status_changed or self.new_messages > 0 or self.new_replies > 0


def mark_seen(db: Session, actor: Reviewer, referral: Referral) -> None:
    """Record that `actor` has seen `referral` as it is now (the caller commits)."""
    seen = db.get(ReferralSeen, (referral.id, actor.id))
    if seen is not None:
        seen.seen_at = utcnow()
        return
    try:
        with savepoint(db):
            db.add(ReferralSeen(referral_id=referral.id, reviewer_id=actor.id, seen_at=utcnow()))
    except IntegrityError:
        # The same reviewer's other request recorded it a moment ago: that view counts.
        pass


_Query = Select[Referral, bool, int, int]


def _activity(actor: Reviewer) -> tuple[_Query, ColumnElement[bool]]:
    """The query of referrals with their activity for `actor`, and its "anything new"."""
    seen_at = ReferralSeen.seen_at  # NULL: never seen
    messages = (
        select(func.count(ReferralMessage.id))
        .join(Reviewer, Reviewer.id == ReferralMessage.author_id)
        .where(
            ReferralMessage.referral_id == Referral.id,
            Reviewer.role == Role.PARTNER,
            or_(seen_at.is_(None), ReferralMessage.created_at > seen_at),
        )
        .correlate(Referral, ReferralSeen)
        .scalar_subquery()
    )
    replies = (
        select(func.count(Reply.id))
        .where(
            Reply.referral_id == Referral.id,
            Reply.deleted_at.is_(None),
            or_(seen_at.is_(None), Reply.created_at > seen_at),
        )
        .correlate(Referral, ReferralSeen)
        .scalar_subquery()
    )
    status_changed = and_(
        Referral.status != ReferralStatus.PROPOSED,
        or_(seen_at.is_(None), Referral.updated_at > seen_at),
    )
    query = select(Referral, status_changed, messages, replies).outerjoin(
        ReferralSeen,
        and_(ReferralSeen.referral_id == Referral.id, ReferralSeen.reviewer_id == actor.id),
    )
    return query, or_(status_changed, messages > 0, replies > 0)


def _rows(db: Session, query: _Query) -> list[ReferralActivity]:
    return [
        ReferralActivity(referral, bool(changed), int(messages or 0), int(replies or 0))
        for referral, changed, messages, replies in db.execute(query)
    ]


def for_dashboard(db: Session, actor: Reviewer) -> list[ReferralActivity]:
    """The actor's referrals with something new, latest change first (at most
    LIST_LIMIT). The caller has checked that the actor works on cases."""
    query, is_new = _activity(actor)
    mine = or_(
        Referral.consent_attested_by_id == actor.id,
        exists().where(
            CaseAssignee.case_id == Referral.case_id, CaseAssignee.reviewer_id == actor.id
        ),
    )
    query = query.where(mine, is_new)
    query = query.order_by(Referral.updated_at.desc(), Referral.id.desc()).limit(LIST_LIMIT)
    return _rows(db, query)


def for_case(db: Session, actor: Reviewer, case_id: int) -> dict[int, ReferralActivity]:
    """Every referral of a case, by referral id. The caller has checked access."""
    query, _ = _activity(actor)
    rows = _rows(db, query.where(Referral.case_id == case_id))
    return {row.referral.id: row for row in rows}
