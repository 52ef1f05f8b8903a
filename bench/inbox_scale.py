"""The inbox's queries at 100, 1,500 and 10,000 sources, every filter seeded, side by side.

Seeds one fresh database per size through the migrations (rows only: the inbox never
opens a file), then times the first inbox page as `vault.services.inbox_query.list_page`
runs it for the reviewer interface (the page with its counts, the audit event)
for each filter, and for each share of unread sources from 50% down to 0.2%. Prints the
medians and the ratio to the 100-source figure (target: at most 2). The sizes are timed
in alternating order (100, 1,500, 10,000 then 10,000, 1,500, 100, ...), one filter at a
time, so a burst of load elsewhere on the machine hits every size alike.

What is seeded (the same shares at every size; `seed` below):
- `PER_SOURCE` submissions per source; starred: 1 source in 17;
- one reader per unread share (`UNREAD_SHARES`): that reader has seen everything but the
  submissions of that share of sources, spread over the whole list; the unread rows are
  then built by `vault.services.unread.resync`, the code a login runs (timed: building
  them, and again once they exist, as each later login does);
- cases: 20% of sources are in a case (one source each); statuses cycle over all seven;
  1 case in 25 is urgent (medical); the label "legal" on 1 case in 4, "medical" on
  1 in 100; 1 case in 10 is assigned to the first reader ("assigned to me").

    .venv/bin/python -m bench.inbox_scale [--repeat 15] [--sizes 100,1500,10000]
        [--postgresql | --database-url-template URL_WITH_{n}]

`--postgresql` starts a private PostgreSQL server (Debian's binaries, as the test suite
does) and seeds one empty database per size in it. The load average and cores are
printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from vault.db import make_engine, make_session_factory
from vault.migrate import upgrade
from vault.models import (
    Case,
    CaseAssignee,
    CaseLabel,
    CasePriority,
    CaseSource,
    CaseStatus,
    Reviewer,
    Role,
    SeenSubmission,
    Source,
    Submission,
)
from vault.services import unread
from vault.services.inbox_query import InboxFilter, list_page

ROOT = Path(__file__).resolve().parent.parent

PER_SOURCE = 10
SIZES = (100, 1_500, 10_000)
UNREAD_SHARES = (0.5, 0.1, 0.02, 0.002)
WARMUP = 3
BATCH = 5000
STATUSES = list(CaseStatus)
FILTERS: dict[str, dict[str, object]] = {
    "no filter": {},
    "starred": {"starred": True},
    "assigned to me": {"mine": True},
    "urgent": {"urgent": True},
    "status new": {"status": CaseStatus.NEW},
    "status closed": {"status": CaseStatus.CLOSED},
    "label legal": {"label": "legal"},
    "label medical": {"label": "medical"},
    "sort by name": {"sort": "name"},
    "oldest first": {"sort": "oldest"},
    "mine + unread": {"mine": True, "unread": True},
}


def reader_name(share: float) -> str:
    return f"reader-{share * 100:g}pct"


def unread_sources(n: int, share: float) -> set[int]:
    """Indexes of the sources left unread, spread evenly over the list (at least one)."""
    count = max(1, round(n * share))
    step = n / count
    return {int(k * step) for k in range(count)}


def _batched(conn: Connection, table: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table), rows[start : start + BATCH])


def seed_rows(conn: Connection, n: int, per_source: int = PER_SOURCE) -> dict[str, int]:
    """Sources, submissions, readers with their seen rows, cases: see the module's text.
    Returns the readers' ids by name."""
    now = dt.datetime.now(dt.UTC)
    readers = {}
    for share in UNREAD_SHARES:
        readers[reader_name(share)] = conn.execute(
            insert(Reviewer).returning(Reviewer.id),
            {
                "uuid": f"bench-{reader_name(share)}",
                "username": reader_name(share),
                "passphrase_hash": "x",
                "otp_secret_sealed": "x",  # never opened: inbox_http seals real ones
                "last_totp_step": 0,
                "role": Role.ANALYST,
                "is_active": True,
                "created_at": now,
            },
        ).scalar_one()
    _batched(
        conn,
        Source,
        [
            {
                "uuid": f"src-{i:08d}",
                "lookup_id": f"{i:064x}",
                "designation": f"source {i:06d}",
                "reply_key_fingerprint": "0" * 40,
                "interaction_count": per_source,
                "pending": False,
                "starred": i % 17 == 0,
                "created_at": now,
                "last_updated": now - dt.timedelta(minutes=i),
            }
            for i in range(n)
        ],
    )
    ids = list(conn.scalars(select(Source.id).order_by(Source.last_updated.desc())))
    _batched(
        conn,
        Submission,
        [
            {
                "uuid": f"sub-{sid:08d}-{k}",
                "source_id": sid,
                "kind": "MESSAGE" if k % 3 else "FILE",
                "filename": f"{sid}-{k}-msg.gpg",
                "size": 1000,
                "sha256": "0" * 64,
                "downloaded": False,
                "created_at": now,
            }
            for sid in ids
            for k in range(per_source)
        ],
    )
    by_source: dict[int, list[int]] = {}
    for sub_id, source_id in conn.execute(select(Submission.id, Submission.source_id)):
        by_source.setdefault(source_id, []).append(sub_id)
    for share in UNREAD_SHARES:
        left = {ids[i] for i in unread_sources(n, share)}
        reviewer_id = readers[reader_name(share)]
        _batched(
            conn,
            SeenSubmission,
            [
                {"submission_id": sub_id, "reviewer_id": reviewer_id}
                for source_id in ids
                if source_id not in left
                for sub_id in by_source[source_id]
            ],
        )
    in_case = ids[::5]  # 20% of the sources, spread over the list
    cases = [
        {
            "uuid": f"case-{k:08d}",
            "reference": f"BU-2026-{k:06d}",
            "status": STATUSES[k % len(STATUSES)],
            "priority": CasePriority.NORMAL,
            "urgent_medical": k % 25 == 0,
            "created_at": now,
            "updated_at": now,
        }
        for k in range(len(in_case))
    ]
    _batched(conn, Case, cases)
    case_ids = list(conn.scalars(select(Case.id).order_by(Case.id)))
    _batched(
        conn,
        CaseSource,
        [{"case_id": c, "source_id": s} for c, s in zip(case_ids, in_case, strict=True)],
    )
    labels = [{"case_id": c, "label": "legal"} for k, c in enumerate(case_ids) if k % 4 == 0]
    labels += [{"case_id": c, "label": "medical"} for k, c in enumerate(case_ids) if k % 100 == 0]
    _batched(conn, CaseLabel, labels)
    first = readers[reader_name(UNREAD_SHARES[0])]
    _batched(
        conn,
        CaseAssignee,
        [{"case_id": c, "reviewer_id": first} for k, c in enumerate(case_ids) if k % 10 == 0],
    )
    return readers


def _resync_all(engine: Engine) -> float:
    """`unread.resync` for every reader; the slowest one's seconds."""
    slowest = 0.0
    with make_session_factory(engine)() as db:
        for reader in db.scalars(select(Reviewer)):
            start = time.perf_counter()
            unread.resync(db, reader)
            db.commit()
            slowest = max(slowest, time.perf_counter() - start)
    return slowest


def seed(url: str, n: int) -> tuple[float, float]:
    """Seed a migrated database; returns the slowest reader's `unread.resync` when it
    builds the rows, and again once they exist (what each later login costs)."""
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        seed_rows(conn, n)
    built = _resync_all(engine)
    if engine.dialect.name == "postgresql":
        # The state autovacuum reaches within a minute of a bulk load on a live server
        # (statistics, visibility map); without it the planner guesses from empty tables.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    login = _resync_all(engine)
    engine.dispose()
    return built, login


def cases() -> Iterator[tuple[str, str, InboxFilter]]:
    """(label, reader, filter) for every timed page."""
    first = reader_name(UNREAD_SHARES[0])
    for name, kwargs in FILTERS.items():
        yield name, first, InboxFilter(**kwargs)  # type: ignore[arg-type]
    for share in UNREAD_SHARES:
        yield f"unread {share * 100:g}%", reader_name(share), InboxFilter(unread=True)


def time_page(factory: sessionmaker[Session], reader: str, flt: InboxFilter) -> float:
    with factory() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.username == reader)).one()
        start = time.perf_counter()
        list_page(db, reviewer, flt)
        return time.perf_counter() - start


def measure(urls: dict[int, str], repeat: int) -> dict[str, dict[int, float]]:
    """Medians in ms; one engine (pool) per size, kept open, as a worker keeps its own."""
    engines = {n: make_engine(url) for n, url in urls.items()}
    factories = {n: make_session_factory(engine) for n, engine in engines.items()}
    results: dict[str, dict[int, float]] = {}
    try:
        for label, reader, flt in cases():
            samples: dict[int, list[float]] = {n: [] for n in urls}
            for n in urls:  # warm-up: the connection, the database's caches
                for _ in range(WARMUP):
                    time_page(factories[n], reader, flt)
            order = list(urls)
            for run in range(repeat):
                for n in order if run % 2 == 0 else reversed(order):
                    samples[n].append(time_page(factories[n], reader, flt))
            results[label] = {n: statistics.median(v) * 1000 for n, v in samples.items()}
    finally:
        for engine in engines.values():
            engine.dispose()
    return results


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def postgresql_template(stack: contextlib.ExitStack, sizes: tuple[int, ...]) -> str:
    """A private PostgreSQL server (the test suite's), with one empty database per size."""
    from tests.support.servers import postgres_server

    url = stack.enter_context(
        postgres_server(Path(stack.enter_context(tempfile.TemporaryDirectory())))
    )
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for n in sizes:
            conn.exec_driver_sql(f"CREATE DATABASE bench_{n}")
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/bench_{n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url-template", help="e.g. postgresql://.../bench_{n}")
    where.add_argument("--postgresql", action="store_true", help="start a private server")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.sizes.split(","))
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        template = args.database_url_template
        if args.postgresql:
            template = postgresql_template(stack, sizes)
        urls = {
            n: template.format(n=n) if template else f"sqlite:///{Path(tmp) / f'inbox_{n}.sqlite'}"
            for n in sizes
        }
        database = "PostgreSQL" if template else "SQLite"
        print(f"{database}; {PER_SOURCE} submissions per source; before: {machine()}")
        for n, url in urls.items():
            start = time.perf_counter()
            built, login = seed(url, n)
            print(
                f"seeded {n} sources, {n * PER_SOURCE} submissions in "
                f"{time.perf_counter() - start:.1f} s; a reader's unread rows built in "
                f"{built * 1000:.0f} ms, checked again (each login) in {login * 1000:.0f} ms"
                " (slowest reader)"
            )
        results = measure(urls, args.repeat)
        small = min(sizes)
        header = " | ".join(f"{n:>6,} sources" for n in sizes)
        print(f"{'first page':>16} | {header} | ratio {max(sizes):,}/{small}")
        worst = 0.0
        for label, by_size in results.items():
            ratio = by_size[max(sizes)] / by_size[small]
            worst = max(worst, ratio)
            cells = " | ".join(f"{by_size[n]:11.2f} ms" for n in sizes)
            print(f"{label:>16} | {cells} | {ratio:.2f}")
        print(f"worst ratio {worst:.2f} (target <= 2); after: {machine()}")


if __name__ == "__main__":
    main()
