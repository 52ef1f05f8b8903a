"""`backupctl observatory`: statistics releases on the server (docs/observatory.md).

`import` verifies a release made on the workstation (the document and its detached
signature) against the instance's submission public key and keeps it, like the
reviewer interface's import form; the event is audited with no reviewer as actor.
"""

from __future__ import annotations

from pathlib import Path

import click

from backupctl._common import CliState
from composition.runtime import read_submission_fingerprint
from keys.gpg import GpgKeyring
from vault.db import make_engine, make_session_factory
from vault.services import releases
from vault.transaction import unit_of_work
from workstation.observatory.release_sign import verify_release


@click.group("observatory")
def observatory() -> None:
    """Statistics releases from the workstation: import them on the server."""


@observatory.command("import")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detached signature (default: DOCUMENT.asc).",
)
@click.pass_obj
def import_command(state: CliState, document: Path, signature: Path | None) -> None:
    """Verify a signed release with the submission public key, and keep it."""
    signature = signature or document.with_name(document.name + ".asc")
    if not signature.exists():
        raise click.ClickException(f"no signature: {signature.name} is missing")
    config = state.config()
    fingerprint = read_submission_fingerprint(config.instance_dir)
    keyring = GpgKeyring(config.gnupg_home("journalist"), config.gpg_binary)
    public_key = keyring.export_public(fingerprint)
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db, unit_of_work(db):
            try:
                release = releases.import_release(
                    db,
                    None,
                    document.read_bytes(),
                    signature.read_bytes(),
                    public_key=public_key,
                    signer_fingerprint=fingerprint,
                    verify=verify_release,
                )
            except releases.ReleaseRefusedError as exc:
                # The refusal is audited all the same (kept through the rollback).
                raise click.ClickException(f"REFUSED: {exc}") from exc
            click.echo(f"release {release.uuid} imported (signed by {fingerprint})")
    finally:
        engine.dispose()
