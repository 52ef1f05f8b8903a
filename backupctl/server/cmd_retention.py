"""`backupctl retention`: the standing retention policy, run by a systemd timer.

The reviewer interface has the interactive version (preview, then confirm). This is for
an admin who set a policy at deployment (`backup_retention_days`): sources inactive for
that many days and not linked to an open case are deleted through the RQ deletion jobs
(the worker must run), audited with no reviewer as actor.
"""

from __future__ import annotations

import click
from redis import Redis

from backupctl._common import CliState, redis_url_for
from vault.db import make_engine, make_session_factory
from vault.services import retention
from vault.transaction import unit_of_work


@click.group("retention")
def retention_group() -> None:
    """Delete sources inactive for N days and not in an open case."""


_DAYS = click.option(
    "--days",
    type=click.IntRange(min=retention.MIN_DAYS),
    required=True,
    help=f"Inactivity, in days (at least {retention.MIN_DAYS}).",
)


@retention_group.command("run")
@_DAYS
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.pass_obj
def run(state: CliState, days: int, dry_run: bool) -> None:
    """Request the deletion of every eligible source (the worker carries it out)."""
    config = state.config()
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db, unit_of_work(db):
            if dry_run:
                found = retention.eligible(db, days)
                click.echo(f"{len(found)} source(s) inactive for {days} days would be deleted.")
                return
            redis = Redis.from_url(redis_url_for(config))
            try:
                requested = retention.apply_policy(db, redis, days)
            finally:
                redis.close()
    finally:
        engine.dispose()
    click.echo(f"Deletion requested for {requested} source(s) inactive for {days} days.")
