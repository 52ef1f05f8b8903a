"""The paged inbox: filters, sorting, pagination, and a constant number of queries
whatever the page holds (no N+1)."""

from __future__ import annotations

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.support.journalist import FAST_HASHER, make_source
from vault.models import Role, Source
from vault.services import case_edits, cases, inbox, reviewers, submissions
from vault.services.inbox_query import InboxFilter, list_page


def _queries(runtime: Runtime, db: Session, flt: InboxFilter, size: int) -> tuple[int, list[str]]:
    seen: list[str] = []

    def count(*_args: object) -> None:
        seen.append("q")

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        page = list_page(db, db.info["reviewer"], flt, page_size=size)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    return len(seen), [s.designation for s in page.sources]


def test_filters_sort_pages_and_query_count(runtime: Runtime) -> None:
    made = [make_source(runtime) for _ in range(5)]
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst1", Role.ANALYST, hasher=FAST_HASHER)
        db.info["reviewer"] = analyst
        inbox.set_starred(db, analyst, made[0].uuid, True)
        submissions.mark_seen(db, analyst, made[1].uuid)
        case = cases.create_case(db, analyst, [made[2].uuid], urgent_medical=True)
        case_edits.assign(db, analyst, case.uuid, analyst.uuid)
        case_edits.add_label(db, analyst, case.uuid, "legal")

        def names(**kw: object) -> set[str]:
            return {s.designation for s in list_page(db, analyst, InboxFilter(**kw)).sources}  # type: ignore[arg-type]

        assert names(starred=True) == {made[0].designation}
        assert made[1].designation not in names(unread=True) and len(names(unread=True)) == 4
        for kw in ({"mine": True}, {"urgent": True}, {"label": "legal"}):
            assert names(**kw) == {made[2].designation}
        assert names(status=case.status) == {made[2].designation}

        by_name = [s.designation for s in list_page(db, analyst, InboxFilter(sort="name")).sources]
        assert by_name == sorted(by_name)
        first = list_page(db, analyst, InboxFilter(page=1), page_size=2)
        third = list_page(db, analyst, InboxFilter(page=3), page_size=2)
        beyond = list_page(db, analyst, InboxFilter(page=99), page_size=2)
        assert (first.has_next, len(first.sources)) == (True, 2)
        assert (third.has_next, len(third.sources)) == (False, 1)
        assert beyond.sources == []
        row = next(s for s in first.sources if s.designation == made[4].designation)
        assert (row.submissions, row.unread, row.replies) == (2, 2, 0)

        small, _ = _queries(runtime, db, InboxFilter(), 1)
        large, _ = _queries(runtime, db, InboxFilter(), 50)
        assert small == large  # the same statements for 1 row or 5: nothing per row


def test_recent_first_and_inbox_page(runtime: Runtime) -> None:
    a, b = make_source(runtime), make_source(runtime)
    with runtime.session() as db:
        db.execute(update(Source).where(Source.uuid == a.uuid).values(starred=False))
        analyst, _ = reviewers.create_reviewer(db, "analyst1", Role.ANALYST, hasher=FAST_HASHER)
        db.commit()
        order = [s.uuid for s in list_page(db, analyst, InboxFilter()).sources]
        newest = db.scalars(select(Source.uuid).order_by(Source.last_updated.desc())).first()
    assert order[0] == newest and set(order) == {a.uuid, b.uuid}
