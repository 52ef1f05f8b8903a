"""kill -9 of an app worker mid-upload (repeated) and of the RQ worker mid-job.

While the kills happen, another source keeps sending complete submissions: whatever of
them was acknowledged must be stored whole; what was cut must leave no row and, after
the sweep, no file; the plaintext marker must be nowhere; and the next source gets in
without an operator.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import time
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import Engine, select

from tests.support.faults import (
    Background,
    Outcome,
    Product,
    Sent,
    Visitor,
    assert_acknowledged_intact,
    assert_no_plaintext,
    open_upload,
    partials,
    running_product,
    sweep_and_assert_consistent,
    wait_for,
    wait_until_back,
)
from tests.support.reliability import p95, record, size
from tests.support.servers import RedisServer
from vault.db import make_engine, make_session_factory
from vault.models import Source
from vault.services import deletion

pytestmark = pytest.mark.reliability
MARKER = "KILL-MARKER-7c2e"


def _cut_upload(product: Product, visitor: Visitor) -> str:
    """An upload in progress (its first MB sealed into a partial), then every source
    worker killed: the source must not be told it arrived."""
    before = set(partials(product.store))
    first = (MARKER.encode() + b" what happened\n") * 60_000  # ~1.2 MB, then a stall
    conn = open_upload(product, visitor, first, 10 * len(first))
    wait_for(lambda: set(partials(product.store)) - before, 20, "partial file of the upload")
    workers = product.source_workers()
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    try:
        conn.send(first)
        answer = conn.getresponse()
        status = answer.status
        answer.read()
    except (OSError, http.client.HTTPException):
        return "connection closed"
    finally:
        conn.close()
    assert status >= 400, f"a cut upload was answered {status}"
    return f"{status}"


def test_app_workers_killed_mid_upload(
    instance: Path, tmp_path: Path, fault_redis: RedisServer
) -> None:
    kills = size(ci=3, full=20)
    recoveries: list[float] = []
    answers: list[str] = []
    outcomes: list[Outcome] = []
    with running_product(instance, tmp_path, redis_url=fault_redis.url) as product:
        with Background(product, MARKER) as background:
            for _ in range(kills):
                visitor = Visitor(product).start()
                answers.append(_cut_upload(product, visitor))
                seconds, back = wait_until_back(product, MARKER)
                recoveries.append(seconds)
                outcomes.append(back)
        outcomes += background.outcomes
        acknowledged = assert_acknowledged_intact(product, outcomes)
        swept = sweep_and_assert_consistent(product)
        assert_no_plaintext(product, MARKER)
    assert answers == ["connection closed"] * kills, answers
    assert swept >= kills  # each cut upload left a partial; the sweep shredded them
    record(
        "app worker kill -9 mid-upload",
        {
            "kills": kills,
            "user_saw": sorted(set(answers)),
            "submissions_tried": len(outcomes),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
            "half_written_after_sweep": 0,
            "partials_swept": swept,
            "recovery_p95_s": round(p95(recoveries), 3),
            "recovery_max_s": round(max(recoveries), 3),
        },
    )


def _sources_with_files(product: Product, count: int, files: int) -> list[tuple[str, Outcome]]:
    made = []
    for n in range(count):
        visitor = Visitor(product).start()
        outcome = Outcome(Sent(b""), False, None, None)
        for k in range(files):
            payload = f"{MARKER} source {n} file {k} ".encode() * 2000
            outcome = visitor.submit(Sent(b"", [(f"f{k}.txt", payload)]))
            assert outcome.acknowledged
        made.append((visitor.session.cookies.get("src") or "", outcome))
    return made


def _row_gone(engine: Engine, source_uuid: str) -> bool:
    with engine.connect() as conn:
        return conn.scalar(select(Source.id).where(Source.uuid == source_uuid)) is None


def test_rq_worker_killed_mid_deletion(
    instance: Path, tmp_path: Path, fault_redis: RedisServer
) -> None:
    rounds = size(ci=2, full=20)
    mid_job = 0
    recoveries: list[float] = []
    redis = Redis.from_url(fault_redis.url)
    with running_product(instance, tmp_path, redis_url=fault_redis.url) as product:
        engine = make_engine(product.database_url)
        db = make_session_factory(engine)()
        kept = _sources_with_files(product, 1, 2)  # never deleted: must stay whole
        try:
            for _ in range(rounds):
                before = {s for (s,) in db.execute(select(Source.uuid))}
                _sources_with_files(product, 1, 8)
                db.expire_all()
                doomed = db.scalar(select(Source).where(Source.uuid.not_in(before)))
                assert doomed is not None
                job_id = f"delete-source-{doomed.uuid}"
                worker = product.rq_worker()
                assert worker is not None
                deletion.request_source_deletion(db, redis, doomed)
                db.commit()  # the caller commits: the job is queued then
                # Kill while the job runs: between its first shred and its commit.
                deadline = time.monotonic() + 20
                status = None
                while time.monotonic() < deadline:
                    status = Job.fetch(job_id, connection=redis).get_status()
                    if status != JobStatus.QUEUED:
                        break
                    time.sleep(0.005)
                if status == JobStatus.STARTED:
                    os.kill(worker, signal.SIGKILL)
                    mid_job += 1
                started = time.monotonic()
                directory = product.store / doomed.uuid
                wait_for(lambda d=directory: not d.exists(), 60, "the deletion done after the kill")
                wait_for(lambda u=doomed.uuid: _row_gone(engine, u), 30, "the row removed")
                recoveries.append(time.monotonic() - started)
                if status == JobStatus.STARTED:
                    wait_for(lambda w=worker: product.rq_worker() not in (None, w), 30, "back")
        finally:
            db.close()
            engine.dispose()
        # The kept source's submissions are untouched; nothing half-deleted remains.
        assert_acknowledged_intact(product, [outcome for _cookie, outcome in kept])
        sweep_and_assert_consistent(product)
        assert_no_plaintext(product, MARKER)
        seconds, _ = wait_until_back(product, MARKER)
        # What the product itself says it found cut off (a job that finished between our
        # look and the kill is not counted there).
        requeued = sum(
            int(n) for n in re.findall(r"(\d+) job\(s\) cut off by a crash", product.run.output)
        )
    redis.close()
    assert mid_job >= 1 and requeued >= 1, "the kill never landed while a job ran"
    record(
        "RQ worker kill -9 mid-deletion",
        {
            "rounds": rounds,
            "kills_while_job_started": mid_job,
            "jobs_found_cut_off_and_rerun": requeued,
            "deletions_completed_after_restart": rounds,
            "half_deleted_left": 0,
            "completion_after_kill_p95_s": round(p95(recoveries), 3),
            "completion_after_kill_max_s": round(max(recoveries), 3),
            "pages_back_s": round(seconds, 3),
        },
    )
