"""`backupctl worker`: the RQ worker that carries out deletions."""

from __future__ import annotations

import click
from redis import Redis
from rq import SimpleWorker

from backupctl._common import CliState, redis_url_for
from vault import jobs
from vault.runtime import build_runtime
from vault.services import deletion


@click.command()
@click.option("--burst", is_flag=True, help="Run what is queued, then exit.")
@click.pass_obj
def worker(state: CliState, burst: bool) -> None:
    """Run the background jobs of the deletion queue."""
    config = state.config()
    redis = Redis.from_url(redis_url_for(config))
    runtime = build_runtime(config, redis=redis)
    jobs.bind(runtime)
    # SimpleWorker runs jobs in this process: a forked work horse would share the
    # database pool's connections with its parent, which PostgreSQL cannot survive.
    # Job descriptions and ids carry source and submission ids: RQ logs them at INFO,
    # so the worker logs from WARNING up (a failing job is still reported).
    rq_worker = SimpleWorker([deletion.queue(redis)], connection=redis, log_job_description=False)
    click.echo(f"backupctl worker: waiting for jobs on queue {deletion.QUEUE_NAME!r}", err=True)
    try:
        # The scheduler re-queues jobs whose retry interval has passed.
        rq_worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        runtime.engine.dispose()
