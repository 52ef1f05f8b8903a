"""`backupctl worker`: the RQ worker that carries out deletions and sends care
notifications."""

from __future__ import annotations

import click
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from backupctl._common import CliState, redis_url_for
from composition import jobs
from composition.runtime import build_runtime
from vault import notifications
from vault.job_queue import JOB_SERIALIZER
from vault.services import deletion


@click.command()
@click.option("--burst", is_flag=True, help="Run what is queued, then exit.")
@click.pass_obj
def worker(state: CliState, burst: bool) -> None:
    """Run the background jobs: care notifications first, then deletions."""
    config = state.config()
    # Only this process reads the notification secrets: fail now if they are missing.
    notifications.check_worker_secrets(config)
    redis = Redis.from_url(redis_url_for(config))
    runtime = build_runtime(config, redis=redis, side="worker")
    # The worker runs jobs in this process (jobs.worker), each given `runtime`.
    # Job descriptions and ids carry source and submission ids: RQ logs them at INFO,
    # so the worker logs from WARNING up (a failing job is still reported).
    # Queue order is priority: a notification never waits behind a run of deletions.
    queues = [notifications.queue(redis), deletion.queue(redis)]
    rq_worker = jobs.worker(runtime, queues, log_job_description=False)
    revived = sum(requeue_abandoned(queue) for queue in queues)
    if revived:
        click.echo(f"backupctl worker: {revived} job(s) cut off by a crash run again", err=True)
    names = ", ".join(repr(queue.name) for queue in queues)
    click.echo(f"backupctl worker: waiting for jobs on queues {names}", err=True)
    try:
        # The scheduler re-queues jobs whose retry interval has passed.
        rq_worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        runtime.engine.dispose()


def requeue_abandoned(queue: Queue) -> int:
    """Put back at the head of the queue the jobs a killed worker left "started", instead
    of waiting for RQ's own maintenance to notice them (its heartbeat expiry, then up to
    ten minutes, then the retry's delay behind a scheduler lock the dead worker held).

    Run before this worker takes any job. Deletion jobs are idempotent (a second run
    finds the file shredded and only removes the row), so a job that another live
    worker still runs is at worst repeated, never lost or half done; a notification
    repeated that way is one message more.
    """
    registry = StartedJobRegistry(queue=queue)
    revived = 0
    for job_id in registry.get_job_ids(cleanup=False):
        try:
            job = Job.fetch(job_id, connection=queue.connection, serializer=JOB_SERIALIZER)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) != JobStatus.STARTED:
            continue  # finished meanwhile: only its registry entry was left
        registry.remove_executions(job)
        queue.enqueue_job(job, at_front=True)
        revived += 1
    return revived
