"""`backupctl custody anchor` on the server: time-stamp the custody and audit chains'
heads with the configured TSAs (vault.services.anchors). Run by a systemd timer in
production (`backup-anchor.timer`), by an admin on demand (before an export that must
carry a fresh anchor, say), and in development by `backupctl run` as a supervised loop
(`--every`) when TSAs are configured."""

from __future__ import annotations

import time

import click

from backupctl._common import CliState
from composition.timestamps import authorities
from keys.timestamps import HttpTsa
from vault.config import Config
from vault.db import make_engine, make_session_factory
from vault.errors import ConfigError
from vault.services import anchors
from vault.transaction import unit_of_work


@click.command("anchor")
@click.option(
    "--every",
    type=click.IntRange(min=60),
    default=None,
    help="Keep running, anchoring every this many seconds (development).",
)
@click.pass_obj
def anchor(state: CliState, every: int | None) -> None:
    """SERVER: time-stamp the custody and audit chains' heads (RFC 3161 TSAs)."""
    config = state.config()
    try:
        tsas, unusable = authorities(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not config.tsa.authorities:
        click.echo("no time-stamping authority configured (BACKUP_TSA_URLS): nothing anchored")
        return
    while True:
        # A TSA without its certificate is named each round; the others still anchor.
        for name, problem in unusable.items():
            click.echo(f"{name} FAILED: {problem}", err=True)
        failed = _anchor_once(config, tsas) if tsas else set()
        failed |= set(unusable)
        if failed:
            click.echo(
                f"not anchored by every TSA: {', '.join(sorted(failed))} failed "
                f"(the other anchors are kept)",
                err=True,
            )
        if every is None:
            # Exit 1 when a TSA failed, so the timer's unit shows it; what anchored is kept.
            if failed:
                raise SystemExit(1)
            return
        time.sleep(every)


def _anchor_once(config: Config, tsas: list[HttpTsa]) -> set[str]:
    """One round: every TSA is asked, whatever the others do; the names of those that
    failed."""
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db, unit_of_work(db):
            outcomes = anchors.anchor_heads(db, tsas)
    finally:
        engine.dispose()
    for outcome in outcomes:
        where = f"{outcome.chain} chain at {outcome.seq}"
        if outcome.already:
            click.echo(f"{where}: already anchored by {outcome.tsa}")
        elif outcome.anchored:
            click.echo(f"{where}: anchored by {outcome.tsa} at {outcome.gen_time}")
        else:
            click.echo(f"{where}: {outcome.tsa} FAILED: {outcome.problem}", err=True)
    if not outcomes:
        click.echo("both chains are empty: nothing to anchor yet")
    return {o.tsa for o in outcomes if not o.anchored}


__all__ = ["anchor"]
