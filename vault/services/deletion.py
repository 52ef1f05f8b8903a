"""Deletion requests: rows are marked at once (hidden everywhere), then an RQ job shreds
the files and removes the rows. A job that fails is retried; a job that finds its work
already done does nothing, so nothing is deleted twice."""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.models import Reply, Source, Submission

QUEUE_NAME = "backup"
# A failed deletion is retried with growing delays (the worker runs RQ's scheduler).
DEFAULT_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


def queue(redis: Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=redis)


def request_source_deletion(
    db: Session, redis: Redis, source: Source, retry: Retry = DEFAULT_RETRY
) -> None:
    source.deleted_at = utcnow()
    db.commit()
    queue(redis).enqueue(
        "vault.jobs.delete_source", source.uuid, retry=retry, job_id=f"delete-source-{source.uuid}"
    )


def request_submission_deletion(
    db: Session, redis: Redis, submission: Submission, retry: Retry = DEFAULT_RETRY
) -> None:
    submission.deleted_at = utcnow()
    db.commit()
    queue(redis).enqueue(
        "vault.jobs.delete_submission",
        submission.uuid,
        retry=retry,
        job_id=f"delete-submission-{submission.uuid}",
    )


def request_reply_deletion(
    db: Session, redis: Redis, reply: Reply, retry: Retry = DEFAULT_RETRY
) -> None:
    reply.deleted_at = utcnow()
    db.commit()
    queue(redis).enqueue(
        "vault.jobs.delete_reply", reply.uuid, retry=retry, job_id=f"delete-reply-{reply.uuid}"
    )
