"""The inbox at scale, on SQLite and PostgreSQL: the unread rows follow what each reader
has seen, and the bounded walk and the filters' own indexes give the same pages as the
plain definition of each filter, at every page, alone and combined."""

from __future__ import annotations

import contextlib
import importlib
import itertools
from collections.abc import Iterator
from types import ModuleType

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.support.journalist import FAST_HASHER, make_source
from vault.models import (
    Case,
    CaseAssignee,
    CaseLabel,
    CaseSource,
    CaseStatus,
    Reviewer,
    Role,
    SeenSubmission,
    Source,
    Submission,
    UnreadSubmission,
)
from vault.services import deletion, inbox_query, reviewers, sources, submissions, unread
from vault.services.inbox_query import InboxFilter, list_page


def _bench() -> ModuleType:
    """bench/inbox_scale.py: its seed is the one these tests check against."""
    return importlib.import_module("bench.inbox_scale")


@contextlib.contextmanager
def _statements(runtime: Runtime, prefix: str) -> Iterator[list[tuple[str, object]]]:
    """The statements (with their parameters) run on the engine inside the block whose
    text starts with `prefix` (upper case)."""
    seen: list[tuple[str, object]] = []

    def capture(
        conn: object, cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        if statement.lstrip().upper().startswith(prefix):
            seen.append((statement, parameters))

    event.listen(runtime.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", capture)


def _plan(conn: Connection, statement: str, parameters: object) -> list[str]:
    """The engine's plan of `statement`, a line per row (EXPLAIN on PostgreSQL,
    EXPLAIN QUERY PLAN on SQLite)."""
    explain = "EXPLAIN " if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = conn.exec_driver_sql(explain + statement, parameters)  # type: ignore[arg-type]
    return [" ".join(str(column) for column in row) for row in rows]


def _unread_rows(db: Session, reviewer: Reviewer) -> set[int]:
    return set(
        db.scalars(
            select(UnreadSubmission.submission_id).where(
                UnreadSubmission.reviewer_id == reviewer.id
            )
        )
    )


def _truly_unread(db: Session, reviewer: Reviewer) -> set[int]:
    """From the record: live submissions of live sources without a seen row."""
    seen = set(
        db.scalars(
            select(SeenSubmission.submission_id).where(SeenSubmission.reviewer_id == reviewer.id)
        )
    )
    live = db.scalars(
        select(Submission.id)
        .join(Source, Source.id == Submission.source_id)
        .where(Submission.deleted_at.is_(None), Source.deleted_at.is_(None))
    )
    return {sub_id for sub_id in live if sub_id not in seen}


def test_unread_rows_follow_seen_submissions_deletions_and_roles(runtime: Runtime) -> None:
    first, second = make_source(runtime), make_source(runtime)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst1", Role.ANALYST, hasher=FAST_HASHER)
        partner, _ = reviewers.create_reviewer(db, "partner1", Role.PARTNER, hasher=FAST_HASHER)
        # Created after the submissions: the account starts with everything unread.
        assert _unread_rows(db, analyst) == _truly_unread(db, analyst) != set()
        assert _unread_rows(db, partner) == set()  # partners read no sources

        submissions.mark_seen(db, analyst, first.uuid)
        db.commit()
        assert _unread_rows(db, analyst) == _truly_unread(db, analyst)
        unread_names = {
            s.designation for s in list_page(db, analyst, InboxFilter(unread=True)).sources
        }
        assert unread_names == {second.designation}

        # A new submission is unread again for every reader, not for the partner.
        source = db.scalar(select(Source).where(Source.uuid == first.uuid))
        assert source is not None
        (new,) = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, "one more", []
        )
        assert new.id in _unread_rows(db, analyst)
        assert new.id not in _unread_rows(db, partner)
        unread_names = {
            s.designation for s in list_page(db, analyst, InboxFilter(unread=True)).sources
        }
        assert unread_names == {first.designation, second.designation}

        # A deletion request removes the rows at once, before the job runs.
        deletion.request_submission_deletion(db, runtime.redis, new)
        assert new.id not in _unread_rows(db, analyst)
        target = db.scalar(select(Source).where(Source.uuid == second.uuid))
        assert target is not None
        deletion.request_source_deletion(db, runtime.redis, target)
        assert _unread_rows(db, analyst) == _truly_unread(db, analyst) == set()
        assert list_page(db, analyst, InboxFilter(unread=True)).sources == []

        # Role changes rebuild (or drop) the rows from the record.
        reviewers.change_role(db, None, partner, Role.ANALYST)
        assert _unread_rows(db, partner) == _truly_unread(db, partner)
        reviewers.change_role(db, None, partner, Role.PARTNER)
        assert _unread_rows(db, partner) == set()


def test_resync_repairs_rows_a_concurrent_writer_missed(runtime: Runtime) -> None:
    """A row lost (or left stale) by a race is made right by the next rebuild (a login)."""
    made = make_source(runtime)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst1", Role.ANALYST, hasher=FAST_HASHER)
        document = db.scalar(select(Submission).where(Submission.uuid == made.document_uuid))
        message = db.scalar(select(Submission).where(Submission.uuid == made.message_uuid))
        assert document is not None and message is not None
        db.delete(db.get(UnreadSubmission, (document.id, analyst.id)))  # a row missed
        db.add(SeenSubmission(submission_id=message.id, reviewer_id=analyst.id))  # left stale
        db.commit()
        assert _unread_rows(db, analyst) != _truly_unread(db, analyst)
        unread.resync(db, analyst)
        unread.resync(db, analyst)  # twice: nothing duplicated, nothing fails
        db.commit()
        assert _unread_rows(db, analyst) == _truly_unread(db, analyst)


def test_rebuilding_rows_never_reads_the_table_it_fills(runtime: Runtime) -> None:
    """The rows to add are chosen without reading unread_submissions: the insert skips
    those already there. A NOT EXISTS on it let PostgreSQL, told by its statistics that
    the table was empty, scan it once per row while the statement filled it (12 s for a
    reader with 50,000 unread submissions; bench/inbox_scale.py prints the build)."""
    make_source(runtime)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst1", Role.ANALYST, hasher=FAST_HASHER)
        db.execute(delete(UnreadSubmission))
        db.commit()
        with _statements(runtime, "INSERT INTO UNREAD_SUBMISSIONS") as statements:
            unread.resync(db, analyst)
        db.rollback()
    assert statements, "resync inserted nothing"
    postgresql = runtime.engine.dialect.name == "postgresql"
    with runtime.engine.connect() as conn:
        if postgresql:
            # The state that made the plan: an analyzed, empty table.
            conn.exec_driver_sql("ANALYZE unread_submissions")
        for statement, parameters in statements:
            plan = _plan(conn, statement, parameters)
            reads = [
                line
                for line in plan
                if "unread_submissions" in line and "Insert on unread_submissions" not in line
            ]
            assert reads == [], "\n".join(plan)
        conn.rollback()


def _expected(db: Session, reviewer: Reviewer, flt: InboxFilter) -> list[str]:
    """The filter's plain definition, computed in Python from the rows."""
    sources = list(
        db.scalars(select(Source).where(Source.pending.is_(False), Source.deleted_at.is_(None)))
    )
    links: dict[int, set[int]] = {}
    for case_id, source_id in db.execute(select(CaseSource.case_id, CaseSource.source_id)):
        links.setdefault(source_id, set()).add(case_id)
    cases = {c.id: c for c in db.scalars(select(Case))}
    labels = {(c, label) for c, label in db.execute(select(CaseLabel.case_id, CaseLabel.label))}
    mine = set(
        db.scalars(select(CaseAssignee.case_id).where(CaseAssignee.reviewer_id == reviewer.id))
    )
    unread_subs = _truly_unread(db, reviewer)
    unread_sources = set(
        db.scalars(select(Submission.source_id).where(Submission.id.in_(unread_subs)))
    )
    closed = (CaseStatus.CLOSED, CaseStatus.DISCARDED)

    def keep(source: Source) -> bool:
        linked = [cases[c] for c in links.get(source.id, ())]
        return (
            (not flt.starred or source.starred)
            and (not flt.unread or source.id in unread_sources)
            and (not flt.mine or any(c.id in mine for c in linked))
            and (not flt.urgent or any(c.urgent_medical and c.status not in closed for c in linked))
            and (flt.status is None or any(c.status is flt.status for c in linked))
            and (not flt.label or any((c.id, flt.label) in labels for c in linked))
        )

    kept = [s for s in sources if keep(s)]
    if flt.sort == "name":
        kept.sort(key=lambda s: s.designation)
    elif flt.sort == "oldest":
        kept.sort(key=lambda s: (s.last_updated, s.id))
    else:
        kept.sort(key=lambda s: (s.last_updated, s.id), reverse=True)
    return [s.designation for s in kept]


FILTERS = [
    {},
    {"starred": True},
    {"unread": True},
    {"mine": True},
    {"urgent": True},
    {"status": CaseStatus.NEW},
    {"status": CaseStatus.CLOSED},
    {"label": "legal"},
    {"label": "medical"},
    {"mine": True, "unread": True},
    {"starred": True, "label": "legal"},
    {"urgent": True, "unread": True, "sort": "oldest"},
    {"unread": True, "sort": "name"},
]


@pytest.mark.parametrize(
    ("walk_factor", "id_list_max"),
    [(1, inbox_query.ID_LIST_MAX), (20, inbox_query.ID_LIST_MAX), (1, 0)],
)
def test_pages_match_the_plain_definition(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, walk_factor: int, id_list_max: int
) -> None:
    """Both ways (the bounded walk, the filters' indexes) and the switch between them
    give exactly the sources the filter defines, in order, page after page. A walk
    factor of 1 sends nearly every filtered page to the indexes; 20 keeps dense ones
    on the walk. The indexes' matches go to the page's query as a list of ids (the
    first pages) or, with `ID_LIST_MAX` at 0, as the filter's subquery (deep pages)."""
    monkeypatch.setattr(inbox_query, "WALK_FACTOR", walk_factor)
    monkeypatch.setattr(inbox_query, "ID_LIST_MAX", id_list_max)
    bench = _bench()
    with runtime.engine.begin() as conn:
        bench.seed_rows(conn, 300, per_source=2)
    page_size = 7
    with runtime.session() as db:
        for reader in db.scalars(select(Reviewer)):
            unread.resync(db, reader)
        db.commit()
        for share, kwargs in itertools.product(bench.UNREAD_SHARES, FILTERS):
            name = bench.reader_name(share)
            reader = db.scalars(select(Reviewer).where(Reviewer.username == name)).one()
            expected = _expected(db, reader, InboxFilter(**kwargs))  # type: ignore[arg-type]
            got: list[str] = []
            for page in itertools.count(1):
                flt = InboxFilter(page=page, **kwargs)  # type: ignore[arg-type]
                listing = list_page(db, reader, flt, page_size=page_size)
                got += [s.designation for s in listing.sources]
                if not listing.has_next:
                    break
            assert got == expected, (share, kwargs)
            assert expected or kwargs, "the seed leaves no filter empty by accident"


def test_filters_are_looked_up_per_row_even_when_statistics_undercount(runtime: Runtime) -> None:
    """The page's query checks each filter on the sources it walks or was given, one
    index lookup per source, never by reading all of a filter's rows first: with
    PostgreSQL told by its statistics that a reader had few unread rows (just rebuilt at
    login), an EXISTS became a hash of all 50,000 of them for each page (9 ms instead of
    0.8 at 10,000 sources). And the walk's window is a range on the order's index: no
    scan of every source."""
    bench = _bench()
    with runtime.engine.begin() as conn:
        bench.seed_rows(conn, 300, per_source=2)
    postgresql = runtime.engine.dialect.name == "postgresql"
    with runtime.engine.connect() as conn:
        if postgresql:
            # The state behind the hash: statistics taken while the table was empty.
            conn.execute(delete(UnreadSubmission))
            conn.commit()
            conn.exec_driver_sql("ANALYZE")
    filters = [{"mine": True, "unread": True}, {"unread": True}, {"label": "legal"}]
    filters += [{"urgent": True, "unread": True}, {"status": CaseStatus.NEW, "mine": True}]
    plans: list[str] = []
    with runtime.session() as db:
        for reader in db.scalars(select(Reviewer)):
            unread.resync(db, reader)
        db.commit()
        for share, kwargs in itertools.product(bench.UNREAD_SHARES, filters):
            if kwargs.get("mine") and share != bench.UNREAD_SHARES[0]:
                continue  # the seed assigns cases to the first reader only
            name = bench.reader_name(share)
            reader = db.scalars(select(Reviewer).where(Reviewer.username == name)).one()
            flt = InboxFilter(**kwargs)  # type: ignore[arg-type]
            # The page itself (the statement that reads sources).
            with _statements(runtime, "SELECT PAGE.ID, PAGE.UUID") as statements:
                list_page(db, reader, flt, page_size=7)
            assert statements, kwargs
            with runtime.engine.connect() as conn:
                for statement, parameters in statements:
                    plans.append("\n".join(_plan(conn, statement, parameters)))
    filter_tables = ("unread_submissions", "case_sources", "case_assignees", "case_labels", "cases")
    # Walks and pages with a second filter check filters per row (a subquery each).
    assert [plan for plan in plans if ("SubPlan" if postgresql else "SUBQUERY") in plan]
    for plan in plans:
        lines = plan.splitlines()
        if postgresql:
            # No join at all: each filter is a subplan run for the source at hand (at
            # 300 sources, one that scans a one-page table is still the cheapest).
            assert not [line for line in lines if "Join" in line or "Hash" in line], plan
        else:
            # Every filter table is searched by an index key, never scanned whole.
            scans = [line for line in lines if " SCAN " in f" {line.split(' ', 3)[-1]} "]
            assert not [line for line in scans if any(t in line for t in filter_tables)], plan
            assert not [line for line in scans if "sources" in line], plan


def test_a_large_rebuild_refreshes_the_statistics_of_the_unread_rows(runtime: Runtime) -> None:
    """A login that adds thousands of unread rows leaves PostgreSQL's statistics knowing
    them (`unread.ANALYZE_AFTER`), in the login's own transaction: with the statistics
    of before (276 rows estimated, 50,000 there at 10,000 sources), the unread filter's
    read of a reader's sources hashed every row of the reader, 9.4 ms instead of
    0.35 ms for each page (bench/inbox_http.py). A smaller rebuild leaves them to
    autovacuum. SQLite plans without collected statistics: its read stays on the
    (reviewer, source) index."""
    bench = _bench()
    with runtime.engine.begin() as conn:
        bench.seed_rows(conn, 1200, per_source=10)
    postgresql = runtime.engine.dialect.name == "postgresql"
    with runtime.engine.connect() as conn:
        conn.execute(delete(UnreadSubmission))
        conn.commit()
        if postgresql:
            conn.exec_driver_sql("ANALYZE")  # the statistics of an empty table

    def known_rows() -> float:
        with runtime.engine.connect() as conn:
            return float(
                conn.exec_driver_sql(
                    "SELECT reltuples FROM pg_class WHERE relname = 'unread_submissions'"
                ).scalar_one()
            )

    def analyzed() -> int:
        """ANALYZE commands run on the table (autovacuum's are counted apart)."""
        with runtime.engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT analyze_count FROM pg_stat_user_tables"
                    " WHERE relname = 'unread_submissions'"
                ).scalar_one()
            )

    with runtime.session() as db:
        readers = {r.username: r for r in db.scalars(select(Reviewer))}
        small = readers[bench.reader_name(bench.UNREAD_SHARES[1])]  # 10%: 1,200 rows
        before = analyzed() if postgresql else 0
        unread.resync(db, small)
        db.commit()
        if postgresql:
            assert analyzed() == before, "a small rebuild analyzed the table"
        large = readers[bench.reader_name(bench.UNREAD_SHARES[0])]  # 50%: 6,000 rows
        unread.resync(db, large)
        added = len(_unread_rows(db, large))
        assert added >= unread.ANALYZE_AFTER
        db.commit()
        if postgresql:
            assert known_rows() >= added + 1_200
        with _statements(runtime, "SELECT DISTINCT UNREAD_SUBMISSIONS") as reads:
            listing = list_page(db, large, InboxFilter(unread=True))
        assert len(listing.sources) == inbox_query.PAGE_SIZE
    assert reads
    if not postgresql:
        with runtime.engine.connect() as conn:
            for statement, parameters in reads:
                plan = " ".join(_plan(conn, statement, parameters))
                assert "COVERING INDEX ix_unread_submissions_reviewer_source" in plan, plan
