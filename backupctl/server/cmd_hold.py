"""`backupctl hold`: legal holds from the server's console (the operator, actor none).

A case under legal hold is exempt from automatic deletion (`backupctl retention run`)
until the hold is lifted; both are audited. The reason is asked at a prompt, never
taken as an argument: it may name people, and arguments end up in shell histories.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backupctl._common import CliState
from vault.column_key import COLUMN_KEY_FILE, ColumnKeyFile, bind_column_key
from vault.db import make_engine, make_session_factory
from vault.models import Case
from vault.services import legal_hold
from vault.transaction import unit_of_work


@click.group("hold")
def hold_group() -> None:
    """Legal holds: cases exempt from automatic deletion."""


@contextmanager
def _session(state: CliState) -> Iterator[Session]:
    config = state.config()
    engine = make_engine(config.database_url)
    try:
        factory = make_session_factory(engine)
        bind_column_key(factory, ColumnKeyFile(config.instance_dir / COLUMN_KEY_FILE))
        with factory() as db, unit_of_work(db):
            yield db
    finally:
        engine.dispose()


def _case_uuid(db: Session, case: str) -> str:
    found = db.scalar(select(Case.uuid).where(or_(Case.reference == case, Case.uuid == case)))
    if found is None:
        raise click.ClickException(f"no case {case!r} (give its reference, BU-YYYY-NNNN)")
    return str(found)


_CASE = click.argument("case")


@hold_group.command("set")
@_CASE
@click.pass_obj
def set_hold(state: CliState, case: str) -> None:
    """Put CASE under legal hold; the reason is asked for (sealed, never in clear)."""
    with _session(state) as db:
        case_uuid = _case_uuid(db, case)
        reason = str(click.prompt("Reason (who asked for the hold, their reference)"))
        try:
            legal_hold.place(db, None, case_uuid, reason)
        except legal_hold.LegalHoldError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{case}: under legal hold; nothing of it is deleted automatically.")


@hold_group.command("lift")
@_CASE
@click.pass_obj
def lift_hold(state: CliState, case: str) -> None:
    """Lift CASE's legal hold: the retention policy applies to it again."""
    with _session(state) as db:
        try:
            legal_hold.lift(db, None, _case_uuid(db, case))
        except legal_hold.LegalHoldError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{case}: legal hold lifted.")


@hold_group.command("list")
@click.option("--reasons", is_flag=True, help="Print each hold's reason too.")
@click.pass_obj
def list_holds(state: CliState, reasons: bool) -> None:
    """The cases under legal hold, oldest hold first."""
    with _session(state) as db:
        holds = legal_hold.held_cases(db)
        for hold in holds:
            who = hold.set_by or "operator"
            click.echo(f"{hold.reference}  since {hold.set_at:%Y-%m-%d %H:%M} UTC  by {who}")
            if reasons:
                click.echo(f"    {hold.reason}")
    if not holds:
        click.echo("no case is under legal hold")
