"""`backupctl care escalate`: escalate urgent care requests nobody took in time.

Run by a systemd timer in production (`backup-care-escalate.timer`, every minute) and,
in development, by `backupctl run` as a supervised loop (`--every`). Escalation is
recorded in the database (vault.services.care.escalate_overdue); when a request was
escalated, the on-duty team is notified without any content (vault.notifications).
"""

from __future__ import annotations

import time

import click
from redis import Redis

from backupctl._common import CliState, redis_url_for
from vault import notifications
from vault.config import Config
from vault.db import make_engine, make_session_factory
from vault.errors import ConfigError
from vault.services import care
from vault.transaction import unit_of_work


def _notify_escalation(config: Config) -> None:
    """Tell the on-duty team, without any content, that an urgent request waits untaken
    (queued for the worker; the escalation itself is already recorded)."""
    try:
        redis = Redis.from_url(redis_url_for(config))
    except ConfigError as exc:  # the escalation stands; only the message is lost
        click.secho(f"backupctl: no notification: {exc}", fg="yellow", err=True)
        return
    try:
        notifications.enqueue_care_waiting(redis, config, escalation=True)
    finally:
        redis.close()


@click.group("care")
def care_group() -> None:
    """The care tier: urgent ASSIST requests for the on-duty team."""


@care_group.command("escalate")
@click.option(
    "--every",
    type=click.IntRange(min=10),
    default=None,
    help="Keep running, escalating every this many seconds (development).",
)
@click.pass_obj
def escalate(state: CliState, every: int | None) -> None:
    """Escalate, once, each urgent request open and untaken past
    BACKUP_CARE_ESCALATE_MINUTES."""
    config = state.config()
    engine = make_engine(config.database_url)
    factory = make_session_factory(engine)
    try:
        while True:
            with factory() as db, unit_of_work(db):
                escalated = care.escalate_overdue(db, minutes=config.care_escalate_minutes)
            if escalated:
                _notify_escalation(config)
            if escalated or every is None:
                click.echo(f"Escalated {len(escalated)} urgent care request(s).")
            if every is None:
                return
            time.sleep(every)
    finally:
        engine.dispose()
