"""Inbox time at 100 and at 10,000 sources (10 submissions each), side by side.

Seeds two fresh databases through the migrations (rows only: the inbox never opens a
file), then times the first inbox page, unfiltered and with the unread filter, as
`vault.services.inbox_query.list_page` runs it for the reviewer interface. Prints the
medians and the ratio 10,000 / 100 (target: at most 2).

    .venv/bin/python bench/inbox_scale.py [--repeat 15]
        [--postgresql | --database-url-template URL_WITH_{n}]

`--postgresql` starts a private PostgreSQL server (Debian's binaries, as the test suite
does) and seeds one empty database per size in it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vault.db import make_engine, make_session_factory  # noqa: E402
from vault.migrate import upgrade  # noqa: E402
from vault.models import Reviewer, Role, SeenSubmission, Source, Submission  # noqa: E402
from vault.services.inbox_query import InboxFilter, list_page  # noqa: E402

PER_SOURCE = 10
SIZES = (100, 10_000)
WARMUP = 3
BATCH = 5000


def seed(url: str, sources: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Reviewer),
            [
                {
                    "uuid": "bench-analyst",
                    "username": "bench",
                    "passphrase_hash": "x",
                    "otp_secret": "x",
                    "last_totp_step": 0,
                    "role": Role.ANALYST,
                    "is_active": True,
                    "created_at": now,
                }
            ],
        )
        rows = [
            {
                "uuid": f"src-{i:08d}",
                "lookup_id": f"{i:064x}",
                "designation": f"source {i}",
                "reply_key_fingerprint": "0" * 40,
                "interaction_count": PER_SOURCE,
                "pending": False,
                "starred": i % 17 == 0,
                "created_at": now,
                "last_updated": now - dt.timedelta(minutes=i),
            }
            for i in range(sources)
        ]
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(Source), rows[start : start + BATCH])
        ids = list(conn.scalars(select(Source.id).order_by(Source.id)))
        subs = [
            {
                "uuid": f"sub-{sid:08d}-{k}",
                "source_id": sid,
                "kind": "MESSAGE",
                "filename": f"{sid}-{k}-msg.gpg",
                "size": 1000,
                "sha256": "0" * 64,
                "downloaded": False,
                "created_at": now,
            }
            for sid in ids
            for k in range(PER_SOURCE)
        ]
        for start in range(0, len(subs), BATCH):
            conn.execute(insert(Submission), subs[start : start + BATCH])
        reviewer_id = conn.scalar(select(Reviewer.id))
        # The analyst has read every other source's submissions.
        seen = [
            {"submission_id": sub_id, "reviewer_id": reviewer_id}
            for sub_id, source_id in conn.execute(select(Submission.id, Submission.source_id))
            if source_id % 2 == 0
        ]
        for start in range(0, len(seen), BATCH):
            conn.execute(insert(SeenSubmission), seen[start : start + BATCH])
    if engine.dialect.name == "postgresql":
        # The state autovacuum reaches within a minute of a bulk load on a live server
        # (statistics, visibility map); without it the planner guesses from empty tables.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def measure(url: str, repeat: int) -> dict[str, float]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    results: dict[str, float] = {}
    for name, flt in (("page 1", InboxFilter()), ("unread", InboxFilter(unread=True))):
        times = []
        # The first runs warm the connection pool and the server's caches: not counted.
        for run in range(WARMUP + repeat):
            with factory() as db:
                reviewer = db.scalars(select(Reviewer)).one()
                start = time.perf_counter()
                list_page(db, reviewer, flt)
                if run >= WARMUP:
                    times.append(time.perf_counter() - start)
        results[name] = statistics.median(times) * 1000
    engine.dispose()
    return results


def _postgresql_template(stack: contextlib.ExitStack) -> str:
    """A private PostgreSQL server (the test suite's), with one empty database per size."""
    from tests.support.servers import postgres_server

    url = stack.enter_context(
        postgres_server(Path(stack.enter_context(tempfile.TemporaryDirectory())))
    )
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for n in SIZES:
            conn.exec_driver_sql(f"CREATE DATABASE bench_{n}")
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/bench_{n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url-template", help="e.g. postgresql://.../bench_{n}")
    where.add_argument("--postgresql", action="store_true", help="start a private server")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        template = args.database_url_template
        if args.postgresql:
            template = _postgresql_template(stack)
        timings = {}
        for n in SIZES:
            url = (
                template.format(n=n) if template else f"sqlite:///{Path(tmp) / f'inbox_{n}.sqlite'}"
            )
            start = time.perf_counter()
            seed(url, n)
            print(
                f"seeded {n} sources, {n * PER_SOURCE} submissions "
                f"in {time.perf_counter() - start:.1f} s"
            )
            timings[n] = measure(url, args.repeat)
        for name in timings[100]:
            small, large = timings[100][name], timings[10_000][name]
            print(
                f"{name:>7}: 100 sources {small:7.2f} ms | 10,000 sources {large:7.2f} ms"
                f" | ratio {large / small:.2f}"
            )


if __name__ == "__main__":
    main()
