"""Deletion requests: rows are marked at once (hidden everywhere), then an RQ job shreds
the files and removes the rows. A job that fails is retried; a job that finds its work
already done does nothing, so nothing is deleted twice."""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.job_queue import job_queue
from vault.models import Reply, Source, Submission
from vault.services import unread
from vault.transaction import after_commit

QUEUE_NAME = "backup"
# A failed deletion is retried with growing delays (the worker runs RQ's scheduler).
DEFAULT_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


def queue(redis: Redis) -> Queue:
    return job_queue(QUEUE_NAME, redis)


def _request(
    db: Session, redis: Redis, item: Source | Submission | Reply, kind: str, retry: Retry
) -> None:
    """Hide at once, then, once that is committed, queue the job that shreds; one job id
    per object, so asking twice queues the work once."""
    item.deleted_at = utcnow()
    if isinstance(item, Submission):
        unread.forget(db, submission_id=item.id)
    elif isinstance(item, Source):
        unread.forget(db, source_id=item.id)
    name, item_uuid = f"vault.jobs.delete_{kind}", item.uuid
    # Queued after the commit: the job must find the row hidden, and nothing is shredded
    # for a request that rolls back.
    after_commit(
        db,
        lambda: queue(redis).enqueue(
            name, item_uuid, retry=retry, job_id=f"delete-{kind}-{item_uuid}"
        ),
    )


def request_source_deletion(
    db: Session, redis: Redis, source: Source, retry: Retry = DEFAULT_RETRY
) -> None:
    _request(db, redis, source, "source", retry)


def request_submission_deletion(
    db: Session, redis: Redis, submission: Submission, retry: Retry = DEFAULT_RETRY
) -> None:
    _request(db, redis, submission, "submission", retry)


def request_reply_deletion(
    db: Session, redis: Redis, reply: Reply, retry: Retry = DEFAULT_RETRY
) -> None:
    _request(db, redis, reply, "reply", retry)
