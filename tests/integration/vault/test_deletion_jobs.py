"""Deletion runs in RQ jobs on the real Redis: shredded, retried on failure, never twice."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from rq import Retry, SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from composition import jobs as worker_jobs
from composition.runtime import Runtime
from vault import codenames, jobs
from vault.models import Source, Submission
from vault.services import deletion, sources


def _worker(rt: Runtime) -> SimpleWorker:
    return worker_jobs.worker(rt, [deletion.queue(rt.redis)])


def _submission(rt: Runtime) -> tuple[str, Path]:
    with rt.session() as db:
        source, _ = sources.create_source(db, rt.keyring, rt.config, codenames.generate_codename())
        [sub] = sources.submit(db, rt.store, source, rt.submission_fingerprint, "hello", [])
        return sub.uuid, rt.store.path_of(source.uuid, sub.filename)


def test_submission_deletion_hides_at_once_then_shreds(runtime: Runtime) -> None:
    sub_uuid, path = _submission(runtime)
    with runtime.session() as db:
        sub = db.scalar(select(Submission).where(Submission.uuid == sub_uuid))
        assert sub is not None
        deletion.request_submission_deletion(db, runtime.redis, sub)
    # marked at once, file still there until the job runs
    with runtime.session() as db:
        assert db.scalar(select(Submission.deleted_at).where(Submission.uuid == sub_uuid))
    assert path.exists()
    _worker(runtime).work(burst=True)
    assert not path.exists()
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Submission)) == 0
    assert jobs.delete_submission(runtime, sub_uuid) is False  # nothing deleted twice


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_failed_job_is_retried(runtime: Runtime, database_url: str) -> None:
    sub_uuid, path = _submission(runtime)
    with runtime.session() as db:
        sub = db.scalar(select(Submission).where(Submission.uuid == sub_uuid))
        assert sub is not None
        deletion.request_submission_deletion(db, runtime.redis, sub, retry=Retry(max=2))
    runtime.engine.dispose()
    # Take the database away: the job fails for real (no such table).
    db_file = Path(database_url.removeprefix("sqlite:///"))
    hidden = db_file.with_name("hidden.sqlite")
    os.rename(db_file, hidden)
    for suffix in ("-wal", "-shm"):
        side = Path(str(db_file) + suffix)
        if side.exists():
            os.rename(side, Path(str(hidden) + suffix))
    worker = _worker(runtime)
    worker.work(burst=True, max_jobs=1)
    job = Job.fetch(f"delete-submission-{sub_uuid}", connection=runtime.redis)
    assert job.get_status() == JobStatus.QUEUED  # re-queued by the retry policy
    assert job.retries_left == 1
    assert path.exists()
    # Bring the database back: the retry succeeds.
    for leftover in db_file.parent.glob(db_file.name + "*"):
        leftover.unlink()
    for suffix in ("", "-wal", "-shm"):
        side = Path(str(hidden) + suffix)
        if side.exists():
            os.rename(side, Path(str(db_file) + suffix))
    runtime.engine.dispose()
    worker.work(burst=True)
    assert Job.fetch(job.id, connection=runtime.redis).get_status() == JobStatus.FINISHED
    assert not path.exists()
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Submission)) == 0


def test_job_commit_fails_then_retried(runtime: Runtime) -> None:
    """A job owns its transaction (`Runtime.session`): when its commit fails, the rows it
    deleted are all back (not some), the job is retried, and the retry finishes."""
    sub_uuid, path = _submission(runtime)
    with runtime.session() as db:
        sub = db.scalar(select(Submission).where(Submission.uuid == sub_uuid))
        assert sub is not None
        source_uuid = sub.source.uuid
        deletion.request_source_deletion(db, runtime.redis, sub.source, retry=Retry(max=2))
    refused: list[int] = []

    def refuse(_session: Session) -> None:
        if not refused:
            refused.append(1)
            raise OperationalError("COMMIT", {}, Exception("database is gone"))

    event.listen(runtime.session_factory, "before_commit", refuse)
    try:
        _worker(runtime).work(burst=True, max_jobs=1)
    finally:
        event.remove(runtime.session_factory, "before_commit", refuse)
    assert refused == [1]
    job = Job.fetch(f"delete-source-{source_uuid}", connection=runtime.redis)
    assert job.get_status() == JobStatus.QUEUED  # re-queued by the retry policy
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 1
        assert db.scalar(select(func.count()).select_from(Submission)) == 1
    _worker(runtime).work(burst=True)
    assert Job.fetch(job.id, connection=runtime.redis).get_status() == JobStatus.FINISHED
    assert not path.exists()
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(Source)) == 0
        assert db.scalar(select(func.count()).select_from(Submission)) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_deleted_source_leaves_nothing_in_the_sqlite_files(runtime: Runtime) -> None:
    """secure_delete overwrites the row in the database's pages; the deletion job then
    empties the WAL, which still held the pages as they were (SQLite resets it only when
    its last connection closes, rare on a busy server: another connection stays open
    here)."""
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        source_uuid = source.uuid
    database = Path(runtime.engine.url.database or "")
    files = [database, database.with_name(database.name + "-wal")]

    def holding() -> list[str]:
        return [p.name for p in files if p.exists() and source_uuid.encode() in p.read_bytes()]

    other = sqlite3.connect(database)  # a busy server's other requests
    try:
        other.execute("SELECT count(*) FROM sqlite_master").fetchall()
        assert holding()  # the control: the row is there before
        assert jobs.delete_source(runtime, source_uuid)
        assert holding() == []
    finally:
        other.close()
