"""The worker's queues: a job is a function's name and plain values, in JSON.

RQ's default format is pickle, and unpickling runs code named by the data: any process
that can write to Redis (both apps hold its password) could then run code as the
worker, which is the only process holding the notification secrets and the one that
shreds. In JSON a job is data only; the worker then resolves its name in
`vault.jobs.JOBS` and nowhere else (composition/jobs.py). Jobs queued in the old format
before an upgrade are refused by the worker as unreadable (their deletions are carried
out by the sweep: vault.jobs.finish_requested_deletions).
"""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

__all__ = ["JOB_SERIALIZER", "job_queue"]

JOB_SERIALIZER = JSONSerializer


def job_queue(name: str, redis: Redis) -> Queue:
    return Queue(name, connection=redis, serializer=JOB_SERIALIZER)
