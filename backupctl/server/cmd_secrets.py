"""`backupctl secrets init`: each interface's secrets in a file of its own.

Production never generates secrets on its own (an app without its file refuses to
start, naming this command); development makes them on first run. The files go to
BACKUP_SECRETS_DIR (production: /etc/backup/secrets, root-only, each handed to its unit
as a systemd credential), else <instance>/secrets. A former single secrets.json is split
into them and removed.
"""

from __future__ import annotations

import click

from backupctl._common import CliState
from keys.receipts import RECEIPT_KEY_FILE, SigningKey
from vault.column_key import COLUMN_KEY_FILE, ColumnKey
from vault.config import (
    INTERFACES,
    LEGACY_SECRETS_FILE,
    init_secrets,
    instance_path,
    secrets_dir_from_env,
    secrets_file,
)
from vault.directory_key import DIRECTORY_KEY_FILE


@click.group()
def secrets() -> None:
    """The instance's secrets, one file per interface."""


@secrets.command()
@click.pass_obj
def init(state: CliState) -> None:
    """Create each interface's secrets file that is missing (never changes one).

    Values of a former <instance>/secrets.json are kept (sources keep their codenames),
    then that file is removed.
    """
    env = state.env()
    # No load_config: this runs as root in production (ansible/), before the services,
    # and must not create or chmod anything in the instance directory.
    instance = instance_path(env)
    directory = secrets_dir_from_env(env, instance)
    legacy = (instance / LEGACY_SECRETS_FILE).exists()
    created = init_secrets(directory, instance)
    for path in created:
        origin = f"from {instance / LEGACY_SECRETS_FILE}" if legacy else "new values"
        click.echo(f"Created {path} ({origin}).")
    if not created:
        kept = ", ".join(str(secrets_file(directory, name)) for name in INTERFACES)
        click.echo(f"Every interface has its secrets file already ({kept}).")


@secrets.command("instance-keys")
@click.pass_obj
def instance_keys(state: CliState) -> None:
    """Make the instance's column key, directory key and receipt key if missing (never
    replaces one).

    Each is otherwise made at its first use. A deployment that runs each process as its
    own user makes them in advance, as root, then gives each to the users that need it
    (ansible/: the column key to the reviewer interface's, the directory key to it and
    the federation endpoint's group, the receipt key to the group of those that sign
    receipts).
    """
    # No load_config either: nothing else in the instance directory is made or changed.
    instance = instance_path(state.env())
    for name, make in (
        (COLUMN_KEY_FILE, ColumnKey.generate),
        (DIRECTORY_KEY_FILE, ColumnKey.generate),
        (RECEIPT_KEY_FILE, SigningKey.generate),
    ):
        path = instance / name
        try:
            make(path)
        except FileExistsError:
            click.echo(f"Kept {path}.")
        else:
            click.echo(f"Created {path}.")
