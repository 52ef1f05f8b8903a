"""The case list: one page of cases, filtered and sorted, with what each row shows
(sources, assignees, labels, referrals) loaded in a fixed number of queries.

Filters are WHERE/EXISTS clauses on indexed columns; sorting is an ORDER BY with the
case id as the last key, so the order is stable whatever the ties. The related rows
are loaded for the page's cases only, one query per relation (`selectinload` and one
query for referrals): no query runs per row (no N+1). Audited as one listing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, nulls_last, select
from sqlalchemy.orm import Session, selectinload

from vault.db import utcnow
from vault.models import (
    Case,
    CaseAssignee,
    CaseLabel,
    CasePriority,
    CaseSource,
    CaseStatus,
    Referral,
    ReferralStatus,
    Reviewer,
    Source,
)
from vault.models.case import LABEL_MAX, REFERENCE_LENGTH
from vault.services import audit, cases

__all__ = [
    "ASSIGNEE_ME",
    "ASSIGNEE_NONE",
    "DUE_CHOICES",
    "PAGE_SIZE",
    "REFERRAL_ANY",
    "REFERRAL_NONE",
    "SORTS",
    "STATUS_OPEN",
    "CaseListFilter",
    "CaseListPage",
    "CaseRow",
    "known_labels",
    "list_page",
    "parse_filter",
]

PAGE_SIZE = 50
SORTS = ("reference", "status", "priority", "urgent", "due", "activity")
DIRECTIONS = ("asc", "desc")
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"
STATUS_OPEN = "open"
REFERRAL_ANY = "any"
REFERRAL_NONE = "none"
DUE_CHOICES = ("overdue", "soon")
SOON = dt.timedelta(days=7)
SEARCH_MAX = 64
# The direction a column sorts in when first clicked: what people look for first.
DEFAULT_DIRECTIONS = {
    "reference": "desc",  # newest cases first
    "status": "asc",  # workflow order
    "priority": "desc",  # high first
    "urgent": "desc",  # urgent first
    "due": "asc",  # soonest first
    "activity": "desc",  # most recent first
}


@dataclass(frozen=True)
class CaseListFilter:
    status: CaseStatus | None = None
    # Every status but closed and discarded (status=open in the query string).
    open_only: bool = False
    label: str | None = None
    # "" anyone, ASSIGNEE_ME, ASSIGNEE_NONE (unassigned) or a reviewer's uuid.
    assignee: str = ""
    urgent_only: bool = False
    # "" any, REFERRAL_ANY (referred), REFERRAL_NONE (never referred) or a status value.
    referral: str = ""
    # "" any, or one of DUE_CHOICES.
    due: str = ""
    # Part of a reference or of a source's designation, as typed.
    search: str = ""
    # "" the default order: urgent first, then priority, then due date.
    sort: str = ""
    direction: str = ""
    page: int = 1

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (the page says so, with a reset link)."""
        return bool(
            self.status
            or self.open_only
            or self.label
            or self.assignee
            or self.urgent_only
            or self.referral
            or self.due
            or self.search
        )

    @property
    def effective_direction(self) -> str:
        if self.direction in DIRECTIONS:
            return self.direction
        return DEFAULT_DIRECTIONS.get(self.sort, "asc")


@dataclass(frozen=True)
class CaseRow:
    case: Case
    referrals: list[Referral] = field(default_factory=list)

    @property
    def sources(self) -> list[Source]:
        return [s for s in self.case.sources if s.deleted_at is None and not s.pending]


@dataclass(frozen=True)
class CaseListPage:
    rows: list[CaseRow]
    page: int
    has_next: bool


def _choice(value: str | None, allowed: tuple[str, ...] | set[str]) -> str:
    return value if value and value in allowed else ""


def parse_filter(args: Mapping[str, str]) -> CaseListFilter:
    """The filter a query string asks for; anything unknown is ignored, never an error.

    `mine=1` (older links) means `assignee=me`.
    """
    statuses = {s.value for s in CaseStatus}
    referral_values = {s.value for s in ReferralStatus} | {REFERRAL_ANY, REFERRAL_NONE}
    status = _choice(args.get("status"), statuses | {STATUS_OPEN})
    assignee = (args.get("assignee") or "").strip()[:36]
    if not assignee and args.get("mine") == "1":
        assignee = ASSIGNEE_ME
    try:
        page = max(1, min(int(args.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    return CaseListFilter(
        status=CaseStatus(status) if status and status != STATUS_OPEN else None,
        open_only=status == STATUS_OPEN,
        label=(args.get("label") or "").strip().lower()[:LABEL_MAX] or None,
        assignee=assignee,
        urgent_only=args.get("urgent") == "1",
        referral=_choice(args.get("referral"), referral_values),
        due=_choice(args.get("due"), DUE_CHOICES),
        search=" ".join((args.get("q") or "").split())[:SEARCH_MAX],
        sort=_choice(args.get("sort"), SORTS),
        direction=_choice(args.get("dir"), DIRECTIONS),
        page=page,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _open_case() -> ColumnElement[bool]:
    return Case.status.not_in((CaseStatus.CLOSED, CaseStatus.DISCARDED))


def _conditions(
    actor: Reviewer, flt: CaseListFilter, now: dt.datetime
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.status is not None:
        where.append(Case.status == flt.status)
    if flt.open_only:
        where.append(_open_case())
    if flt.urgent_only:
        where.append(Case.urgent_medical.is_(True))
    if flt.label:
        where.append(exists().where(CaseLabel.case_id == Case.id, CaseLabel.label == flt.label))
    if flt.assignee == ASSIGNEE_NONE:
        where.append(~exists().where(CaseAssignee.case_id == Case.id))
    elif flt.assignee:
        assignee = CaseAssignee.reviewer_id == actor.id
        if flt.assignee != ASSIGNEE_ME:
            assignee = CaseAssignee.reviewer_id.in_(
                select(Reviewer.id).where(Reviewer.uuid == flt.assignee)
            )
        where.append(exists().where(CaseAssignee.case_id == Case.id, assignee))
    if flt.referral == REFERRAL_NONE:
        where.append(~exists().where(Referral.case_id == Case.id))
    elif flt.referral == REFERRAL_ANY:
        where.append(exists().where(Referral.case_id == Case.id))
    elif flt.referral:
        where.append(
            exists().where(
                Referral.case_id == Case.id, Referral.status == ReferralStatus(flt.referral)
            )
        )
    if flt.due == "overdue":
        where += [_open_case(), Case.due_at.is_not(None), Case.due_at < now]
    elif flt.due == "soon":
        where += [_open_case(), Case.due_at >= now, Case.due_at < now + SOON]
    if flt.search:
        pattern = _like(flt.search.upper()[:REFERENCE_LENGTH])
        by_source = (
            select(CaseSource.case_id)
            .join(Source, Source.id == CaseSource.source_id)
            .where(
                CaseSource.case_id == Case.id,
                Source.deleted_at.is_(None),
                func.lower(Source.designation).like(_like(flt.search.lower()), escape="\\"),
            )
            .exists()
        )
        where.append(Case.reference.like(pattern, escape="\\") | by_source)
    return where


def _priority_rank() -> ColumnElement[int]:
    return case(
        (Case.priority == CasePriority.HIGH, 2),
        (Case.priority == CasePriority.NORMAL, 1),
        else_=0,
    )


def _status_rank() -> ColumnElement[int]:
    return case(*((Case.status == s, i) for i, s in enumerate(CaseStatus)), else_=len(CaseStatus))


def _order(flt: CaseListFilter) -> list[ColumnElement[Any]]:
    """ORDER BY keys; the case id comes last so that equal rows keep one order."""
    urgent_first = Case.urgent_medical.desc()
    due_first = nulls_last(Case.due_at.asc())
    if not flt.sort:
        return [urgent_first, _priority_rank().desc(), due_first, Case.id.desc()]
    desc = flt.effective_direction == "desc"

    def way(column: Any) -> ColumnElement[Any]:
        return column.desc() if desc else column.asc()

    keys: list[ColumnElement[Any]]
    if flt.sort == "reference":
        # BU-2026-10000 sorts after BU-2026-9999.
        keys = [way(func.length(Case.reference)), way(Case.reference)]
    elif flt.sort == "status":
        keys = [way(_status_rank()), urgent_first]
    elif flt.sort == "priority":
        keys = [way(_priority_rank()), urgent_first, due_first]
    elif flt.sort == "urgent":
        keys = [way(Case.urgent_medical), _priority_rank().desc(), due_first]
    elif flt.sort == "due":
        # Cases without a due date come last in both directions.
        keys = [nulls_last(way(Case.due_at)), urgent_first]
    else:  # activity
        keys = [way(Case.updated_at)]
    return [*keys, way(Case.id)]


def list_page(
    db: Session,
    actor: Reviewer,
    flt: CaseListFilter,
    *,
    page_size: int = PAGE_SIZE,
    now: dt.datetime | None = None,
) -> CaseListPage:
    """One page of the case list for a reviewer who works on cases; audited."""
    cases.require_worker(db, actor)
    page = max(1, flt.page)
    # No COUNT(*) of the filtered set: one row more than the page says there is a next.
    found = list(
        db.scalars(
            select(Case)
            .where(*_conditions(actor, flt, now or utcnow()))
            .order_by(*_order(flt))
            .offset((page - 1) * page_size)
            .limit(page_size + 1)
            .options(
                selectinload(Case.sources),
                selectinload(Case.assignees),
                selectinload(Case.labels),
            )
        )
    )
    has_next = len(found) > page_size
    found = found[:page_size]
    by_case: dict[int, list[Referral]] = {c.id: [] for c in found}
    if found:
        for referral in db.scalars(
            select(Referral)
            .where(Referral.case_id.in_(list(by_case)))
            .options(selectinload(Referral.org))
            .order_by(Referral.id)
        ):
            by_case[referral.case_id].append(referral)
    audit.record(db, actor, "cases_listed")
    return CaseListPage([CaseRow(c, by_case[c.id]) for c in found], page, has_next)


def known_labels(db: Session, actor: Reviewer) -> list[str]:
    """Every label in use, for the toolbar's choice (one indexed query)."""
    cases.require_worker(db, actor)
    return list(db.scalars(select(CaseLabel.label).distinct().order_by(CaseLabel.label)))
