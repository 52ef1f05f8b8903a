"""`backupctl care escalate`: escalate urgent care requests nobody took in time.

Run by a systemd timer in production (`backup-care-escalate.timer`, every minute) and,
in development, by `backupctl run` as a supervised loop (`--every`). Escalation reads
and writes the database only (vault.services.care.escalate_overdue).
"""

from __future__ import annotations

import time

import click

from backupctl._common import CliState
from vault.db import make_engine, make_session_factory
from vault.services import care


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
            with factory() as db:
                escalated = care.escalate_overdue(db, minutes=config.care_escalate_minutes)
            # Notification point: once vault.notifications exists, an escalation notifies
            # the on-duty team here (enqueue_care_waiting(redis, config, escalation=True)).
            if escalated or every is None:
                click.echo(f"Escalated {len(escalated)} urgent care request(s).")
            if every is None:
                return
            time.sleep(every)
    finally:
        engine.dispose()
