"""`backupctl db`: the schema, through Alembic only."""

from __future__ import annotations

import click

from backupctl._common import CliState
from composition.homes import split_keyring
from vault.column_key import COLUMN_KEY_FILE
from vault.migrate import upgrade as alembic_upgrade


@click.group()
def db() -> None:
    """The database schema."""


@db.command()
@click.pass_obj
def upgrade(state: CliState) -> None:
    """Apply every pending migration (creates the schema on a new database)."""
    config = state.config(create=True)  # the first step on a new instance
    alembic_upgrade(config.database_url, column_key_file=config.instance_dir / COLUMN_KEY_FILE)
    click.echo("Database schema is up to date.")
    # An instance upgraded from one GnuPG home for all gets one per process.
    for path in split_keyring(config):
        click.echo(f"Made {path} from the former single GnuPG home.")
