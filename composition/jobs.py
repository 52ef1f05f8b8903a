"""The worker's side of the background jobs: each job gets the worker's Runtime.

RQ queues a job by the dotted name of a function in `vault.jobs` and its ids. The
worker built here resolves that name in `vault.jobs.JOBS` only (a job naming anything
else is refused, not imported) and calls it with the Runtime this process built first:
the Runtime is passed explicitly, never kept in a module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from rq import Queue, SimpleWorker
from rq.job import Job

from composition.runtime import Runtime
from vault import jobs
from vault.job_queue import JOB_SERIALIZER

__all__ = ["job_class", "worker"]


def job_class(runtime: Runtime) -> type[Job]:
    """An RQ job class whose jobs run `vault.jobs` functions with `runtime`."""

    class RuntimeJob(Job):
        @property
        def func(self) -> Callable[..., Any]:
            work = jobs.JOBS.get(self.func_name or "")
            if work is None:
                raise LookupError(f"not a job of this worker: {self.func_name!r}")
            return partial(work, runtime)

    return RuntimeJob


def worker(runtime: Runtime, queues: Sequence[Queue], **options: Any) -> SimpleWorker:
    """An in-process worker (SimpleWorker) on `queues`, its jobs given `runtime`.

    SimpleWorker runs jobs in this process: a forked work horse would share the
    database pool's connections with its parent, which PostgreSQL cannot survive.
    """
    return SimpleWorker(
        list(queues),
        connection=runtime.redis,
        job_class=job_class(runtime),
        serializer=JOB_SERIALIZER,
        **options,
    )
