"""The inbox at scale: one page of sources, filtered and sorted, with per-source counts.

Cost does not grow with the number of sources shown elsewhere: filters are EXISTS
subqueries on indexed columns, the page is an ORDER BY/LIMIT on an indexed column, and
the counts (submissions, replies, unread) are three GROUP BY queries over the page's
ids only. No query runs per row (no N+1).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Exists

from vault.models import (
    Case,
    CaseAssignee,
    CaseLabel,
    CaseSource,
    CaseStatus,
    Reply,
    Reviewer,
    SeenSubmission,
    Source,
    Submission,
)
from vault.services import audit
from vault.services.inbox import SourceSummary
from vault.services.reviewers import can_read_sources

__all__ = ["PAGE_SIZE", "SORTS", "InboxFilter", "InboxPage", "list_page"]

PAGE_SIZE = 50
SORTS = ("recent", "oldest", "name")
_CLOSED = (CaseStatus.CLOSED, CaseStatus.DISCARDED)


@dataclass(frozen=True)
class InboxFilter:
    unread: bool = False
    starred: bool = False
    mine: bool = False
    urgent: bool = False
    status: CaseStatus | None = None
    label: str | None = None
    sort: str = "recent"
    page: int = 1


@dataclass(frozen=True)
class InboxPage:
    sources: list[SourceSummary]
    page: int
    has_next: bool


def _in_case(*where: ColumnElement[bool]) -> Exists:
    """EXISTS a case linked to the source that satisfies `where`."""
    return (
        select(CaseSource.source_id)
        .join(Case, Case.id == CaseSource.case_id)
        .where(CaseSource.source_id == Source.id, *where)
        .exists()
    )


def _conditions(reviewer: Reviewer, flt: InboxFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Source.pending.is_(False), Source.deleted_at.is_(None)]
    if flt.starred:
        where.append(Source.starred.is_(True))
    if flt.unread:
        where.append(
            exists().where(
                Submission.source_id == Source.id,
                Submission.deleted_at.is_(None),
                ~exists().where(
                    SeenSubmission.submission_id == Submission.id,
                    SeenSubmission.reviewer_id == reviewer.id,
                ),
            )
        )
    if flt.mine:
        assigned = exists().where(
            CaseAssignee.case_id == Case.id, CaseAssignee.reviewer_id == reviewer.id
        )
        where.append(_in_case(assigned))
    if flt.urgent:
        where.append(_in_case(Case.urgent_medical.is_(True), Case.status.not_in(_CLOSED)))
    if flt.status is not None:
        where.append(_in_case(Case.status == flt.status))
    if flt.label:
        labelled = exists().where(CaseLabel.case_id == Case.id, CaseLabel.label == flt.label)
        where.append(_in_case(labelled))
    return where


def _counts(db: Session, query: Select[int, int]) -> dict[int, int]:
    return {source_id: int(n) for source_id, n in db.execute(query).all()}


def list_page(
    db: Session, reviewer: Reviewer, flt: InboxFilter, page_size: int = PAGE_SIZE
) -> InboxPage:
    """One page of the inbox; empty for roles that read no sources. Audited."""
    if not can_read_sources(reviewer):
        return InboxPage([], 1, False)
    page = max(1, flt.page)
    order = {
        "recent": (Source.last_updated.desc(), Source.id.desc()),
        "oldest": (Source.last_updated.asc(), Source.id.asc()),
        "name": (Source.designation.asc(),),
    }[flt.sort if flt.sort in SORTS else "recent"]
    # No COUNT(*) of the filtered set: it would visit every source. One row more than
    # the page tells whether there is a next page; the walk stops there.
    rows = list(
        db.scalars(
            select(Source)
            .where(*_conditions(reviewer, flt))
            .order_by(*order)
            .offset((page - 1) * page_size)
            .limit(page_size + 1)
        )
    )
    has_next = len(rows) > page_size
    rows = rows[:page_size]
    page_ids = [s.id for s in rows]
    live = (Submission.source_id.in_(page_ids), Submission.deleted_at.is_(None))
    submissions = _counts(
        db, select(Submission.source_id, func.count()).where(*live).group_by(Submission.source_id)
    )
    unseen = ~exists().where(
        SeenSubmission.submission_id == Submission.id, SeenSubmission.reviewer_id == reviewer.id
    )
    unread = _counts(
        db,
        select(Submission.source_id, func.count())
        .where(*live, unseen)
        .group_by(Submission.source_id),
    )
    replies = _counts(
        db,
        select(Reply.source_id, func.count())
        .where(Reply.source_id.in_(page_ids), Reply.deleted_at.is_(None))
        .group_by(Reply.source_id),
    )
    audit.record(db, reviewer, "sources_listed")
    db.commit()
    return InboxPage(
        [
            SourceSummary(
                uuid=s.uuid,
                designation=s.designation,
                last_updated=s.last_updated,
                starred=s.starred,
                submissions=submissions.get(s.id, 0),
                replies=replies.get(s.id, 0),
                unread=unread.get(s.id, 0),
            )
            for s in rows
        ],
        page,
        has_next,
    )
