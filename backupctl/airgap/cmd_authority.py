"""`backupctl custody authority …` and `backupctl custody seal`: the register of
authorities on the workstation, and a judicial file sealed to one of them
(`workstation.authorities`)."""

from __future__ import annotations

from pathlib import Path

import click

from backupctl.airgap.cmd_custody import _ACTOR, _KEY_PASSPHRASE, _WORKSPACE, _open
from keys.lifecycle import fingerprint_groups
from workstation.authorities import add_authority, register, remove_authority, seal_judicial


@click.group("authority")
def authority() -> None:
    """WORKSTATION: the authorities judicial files may be sealed to."""


@authority.command("add")
@_WORKSPACE
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The authority (court, prosecutor's office…).")
@click.option("--jurisdiction", required=True, help="Where it has jurisdiction.")
@click.option(
    "--fingerprint",
    required=True,
    help="The key's WHOLE fingerprint, as the authority gave it out of band.",
)
@_KEY_PASSPHRASE
@_ACTOR
def add(
    workspace: Path,
    public_key: Path,
    name: str,
    jurisdiction: str,
    fingerprint: str,
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """Register an authority if PUBLIC_KEY has exactly the fingerprint given."""
    opened = _open(workspace, key_passphrase_file, actor)
    added = add_authority(opened, public_key.read_bytes(), fingerprint, name, jurisdiction)
    click.echo(f"registered {added.name} ({added.jurisdiction})")
    click.echo(f"  key {fingerprint_groups(added.fingerprint)}")


@authority.command("list")
@_WORKSPACE
@_KEY_PASSPHRASE
@_ACTOR
def list_(workspace: Path, key_passphrase_file: Path | None, actor: str | None) -> None:
    """The registered authorities (from the verified custody log)."""
    found = register(_open(workspace, key_passphrase_file, actor))
    for entry in sorted(found.values(), key=lambda a: a.name.lower()):
        click.echo(f"{entry.fingerprint}  {entry.name} ({entry.jurisdiction})")
        click.echo(f"    registered {entry.registered_at} by {entry.registered_by}")
    if not found:
        click.echo("no authority registered")


@authority.command("remove")
@_WORKSPACE
@click.argument("fingerprint")
@_KEY_PASSPHRASE
@_ACTOR
def remove(
    workspace: Path, fingerprint: str, key_passphrase_file: Path | None, actor: str | None
) -> None:
    """Remove the authority whose fingerprint starts with FINGERPRINT (16+ characters)."""
    gone = remove_authority(_open(workspace, key_passphrase_file, actor), fingerprint)
    click.echo(f"removed {gone.name} ({gone.jurisdiction})")


@click.command("seal")
@_WORKSPACE
@click.argument("judicial_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--authority",
    "authority_fpr",
    required=True,
    help="The registered authority's fingerprint (whole, or its first 16+ characters).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path))
@_KEY_PASSPHRASE
@_ACTOR
def seal(
    workspace: Path,
    judicial_file: Path,
    authority_fpr: str,
    out_dir: Path | None,
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """WORKSTATION: seal JUDICIAL_FILE to one registered authority's key; logged.

    Refused unless the file verifies, was built in this workspace, and every source of
    its items still consents to use in court.
    """
    opened = _open(workspace, key_passphrase_file, actor)
    sent = seal_judicial(opened, judicial_file, authority_fpr, out_dir)
    click.echo(str(sent.path))
    click.echo(f"sealed to {sent.authority.name} ({sent.authority.jurisdiction})")
    click.echo(f"  judicial file SHA-256 {sent.judicial_sha256}")
