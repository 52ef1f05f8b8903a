"""`backupctl observatory`: statistics releases on the server (docs/observatory.md).

`import` verifies a release made on the workstation (the document and its detached
signature) against the instance's submission public key and keeps it, like the
reviewer interface's import form; the event is audited with no reviewer as actor.
With `--origin ORGANISATION --key PINNED.asc` it keeps another organisation's release
for the federation instead (an observatory gathering releases to combine them on its
offline workstation: `backupctl workstation release combine`), checked against the key
pinned for that organisation.
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
from workstation.observatory.release_sign import SignatureError, verify_release, verify_signed


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
@click.option("--origin", help="Another organisation's release: its federation identity.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --origin: the public key pinned for that organisation.",
)
@click.pass_obj
def import_command(
    state: CliState,
    document: Path,
    signature: Path | None,
    origin: str | None,
    key_path: Path | None,
) -> None:
    """Verify a signed release with the submission public key, and keep it."""
    signature = signature or document.with_name(document.name + ".asc")
    if not signature.exists():
        raise click.ClickException(f"no signature: {signature.name} is missing")
    if (origin is None) != (key_path is None):
        raise click.UsageError("--origin and --key go together")
    config = state.config()
    if key_path is not None:
        public_key: str | bytes = key_path.read_bytes()
        try:
            fingerprint = verify_signed(document.read_bytes(), signature.read_bytes(), public_key)
        except SignatureError:
            fingerprint = "unverified"  # import_release refuses it, and audits the refusal
    else:
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
                    origin=origin,
                )
            except releases.ReleaseRefusedError as exc:
                # The refusal is audited all the same (kept through the rollback).
                raise click.ClickException(f"REFUSED: {exc}") from exc
            click.echo(f"release {release.uuid} imported (signed by {fingerprint})")
    finally:
        engine.dispose()
