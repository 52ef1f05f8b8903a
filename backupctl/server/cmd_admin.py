"""`backupctl admin`: reviewer accounts, from the server's console."""

from __future__ import annotations

import io

import click
import segno
from sqlalchemy import select

from backupctl._common import CliState
from keys.errors import KeysError
from keys.gpg import GpgKeyring
from vault.column_key import COLUMN_KEY_FILE, ColumnKeyFile, bind_column_key
from vault.db import make_engine, make_session_factory
from vault.errors import VaultError
from vault.models.reviewer import USERNAME_MAX, Reviewer, Role
from vault.services import accounts, reviewers
from vault.transaction import unit_of_work


@click.group()
def admin() -> None:
    """Reviewer accounts."""


@admin.command()
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=Role.ANALYST.value,
    show_default=True,
    help="analyst (WWoW reviewer), partner (sees referred cases only) or admin.",
)
@click.pass_obj
def create(state: CliState, username: str, role: str) -> None:
    """Create reviewer USERNAME; print their passphrase and TOTP secret, once.

    Nothing printed here can be shown again: give both to the reviewer in person,
    then clear the terminal. The account's key is made now (vault.services.accounts).
    """
    config = state.config()
    key_made = True
    engine = make_engine(config.database_url)
    try:
        factory = make_session_factory(engine)
        bind_column_key(factory, ColumnKeyFile(config.instance_dir / COLUMN_KEY_FILE))
        with factory() as db:
            # Two transactions: the account is kept even if its key cannot be made now.
            with unit_of_work(db):
                try:
                    reviewer, passphrase = reviewers.create_reviewer(db, username, Role(role))
                except reviewers.UsernameTakenError as exc:
                    raise click.ClickException(f"username {username!r} is already taken") from exc
                except reviewers.InvalidUsernameError as exc:
                    raise click.ClickException(
                        f"invalid username {username!r}: {reviewers.USERNAME_MIN}-{USERNAME_MAX} "
                        "characters among a-z 0-9 . _ -, starting with a letter or digit"
                    ) from exc
            try:
                with unit_of_work(db):  # rolled back, the key just made is deleted again
                    keyring = GpgKeyring(config.gnupg_home("journalist"), config.gpg_binary)
                    accounts.make_account_key(db, keyring, reviewer, passphrase, actor=None)
            except (VaultError, KeysError, OSError):
                key_made = False
            name, otp_secret = reviewer.username, reviewers.totp_secret(db, reviewer)
            uri = reviewers.provisioning_uri(db, reviewer)
    finally:
        engine.dispose()
    click.echo(f"Reviewer {name!r} created (role: {role}).\n")
    click.secho("Passphrase (shown once):", bold=True)
    click.echo(f"    {passphrase}\n")
    _show_totp(otp_secret, uri)
    if not key_made:
        click.secho("The account's key could not be made now: it is made at the first login.")
    click.secho(
        "Give these to the reviewer in person, then clear this terminal and its scrollback.",
        fg="yellow",
    )


@admin.command("reset-totp")
@click.argument("username")
@click.pass_obj
def reset_totp(state: CliState, username: str) -> None:
    """Give USERNAME a new two-factor secret, printed once; their sessions end.

    The way back in when a reviewer lost their authenticator, or when `column.key` was
    lost and no TOTP secret opens any more: reset an admin's here, and that admin resets
    the others in the admin pages. Audited as done from the console.
    """
    config = state.config()
    engine = make_engine(config.database_url)
    try:
        factory = make_session_factory(engine)
        bind_column_key(factory, ColumnKeyFile(config.instance_dir / COLUMN_KEY_FILE))
        with factory() as db, unit_of_work(db):
            reviewer = db.scalar(
                select(Reviewer).where(Reviewer.username == username.strip().lower())
            )
            if reviewer is None:
                raise click.ClickException(f"no reviewer named {username!r}")
            secret = reviewers.reset_totp(db, None, reviewer)
            uri = reviewers.provisioning_uri(db, reviewer)
    finally:
        engine.dispose()
    click.echo(f"Two-factor authentication of {username!r} reset.\n")
    _show_totp(secret, uri)
    click.secho(
        "Give this to the reviewer in person, then clear this terminal and its scrollback.",
        fg="yellow",
    )


def _show_totp(secret: str, uri: str) -> None:
    qr = io.StringIO()
    segno.make(uri, error="m").terminal(out=qr, compact=True)
    click.secho("Two-factor secret (TOTP, shown once):", bold=True)
    click.echo(f"    {_grouped(secret)}")
    click.echo(f"    {uri}\n")
    click.echo("Scan with an authenticator app (FreeOTP, Aegis...):")
    click.echo(qr.getvalue())


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
