"""`backupctl audit verify`: walk the audit log's hash chain in the database."""

from __future__ import annotations

import click

from backupctl._common import CliState
from backupctl.server.cmd_receipts import verified_anchors
from vault import audit_chain
from vault.db import make_engine, make_session_factory
from vault.services import anchors
from vault.transaction import unit_of_work


@click.group()
def audit() -> None:
    """The reviewer audit log (hash-chained)."""


@audit.command("verify")
@click.pass_obj
def verify(state: CliState) -> None:
    """Verify the audit chain; print its length and head hash (keep the head elsewhere)."""
    config = state.config()
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db, unit_of_work(db):
            report = audit_chain.verify(db)
            anchored = verified_anchors(db, config, anchors.AUDIT) if report.ok else ""
    finally:
        engine.dispose()
    if not report.ok:
        raise click.ClickException(
            f"audit chain BROKEN at event {report.first_bad_seq}: {report.problem}"
            f" ({report.events} events verified before it)"
        )
    click.echo(f"audit chain OK: {report.events} events, head {report.head}")
    click.echo(anchored)
