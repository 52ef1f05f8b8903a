"""`backupctl keys`: the submission key's ceremony.

`generate` and `export` run on the air-gapped workstation (`--home` is its GnuPG home);
`load` and `show` run on the server, against the instance.
"""

from __future__ import annotations

from pathlib import Path

import click

from backupctl._common import (
    MIN_PASSPHRASE_CHARS,
    CliState,
    check_gnupg_home,
    development_key_banner,
    is_development_key,
    read_passphrase_file,
)
from composition.homes import sealing_keyrings
from composition.runtime import read_submission_fingerprint
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import (
    SUBMISSION_KEY_FILE,
    fingerprint_groups,
    generate_submission_key,
    load_submission_key,
)
from keys.receipts import RECEIPT_KEY_FILE
from vault.config import LEGACY_SECRETS_FILE, SECRETS_DIR
from workstation.prefixes import PrefixError, normalise_fingerprint, resolve_fingerprint

# gpg's validity letters of a key that must not be used: revoked, expired, invalid, disabled.
_UNUSABLE = frozenset("reid")


def _is_instance(path: Path) -> bool:
    """Does `path` look like a server instance directory (its store, secrets or keys)?"""
    markers = ("store", LEGACY_SECRETS_FILE, SECRETS_DIR, SUBMISSION_KEY_FILE, RECEIPT_KEY_FILE)
    return any((path / name).exists() for name in markers)


_home_option = click.option(
    "--home",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="GnuPG home of the air-gapped workstation that holds the secret key.",
)


@click.group()
def keys() -> None:
    """The submission key: generate it offline, load its public half into the server."""


@keys.command()
@_home_option
@click.option("--rsa", is_flag=True, help="RSA-4096 instead of Curve25519 (for old tools).")
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the passphrase from this file's first line (automation) instead of asking.",
)
def generate(home: Path, rsa: bool, passphrase_file: Path | None) -> None:
    """Generate the submission keypair in HOME (on the air-gapped workstation).

    The secret half never leaves HOME. Export the public half with `backupctl keys
    export` and load it on the server with `backupctl keys load`.
    """
    # Any ancestor: a server home is <instance>/gnupg/<side>.
    if any(_is_instance(parent) for parent in home.expanduser().resolve().parents):
        raise click.ClickException(
            f"{home} is inside a server instance: the secret key must never be there"
        )
    check_gnupg_home(home)
    if passphrase_file is not None:
        passphrase = read_passphrase_file(passphrase_file)
    else:
        passphrase = click.prompt(
            "Passphrase for the submission secret key",
            hide_input=True,
            confirmation_prompt=True,
        )
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise click.ClickException(
            f"the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters "
            "(a diceware phrase of 6+ words is best)"
        )
    click.echo("Generating the submission key" + (" (RSA-4096, slow)" if rsa else "") + "...")
    key = generate_submission_key(home, passphrase, rsa=rsa)
    kill_agent(home)  # no agent keeps the passphrase once we are done
    click.echo(f"Submission key: {fingerprint_groups(key.fingerprint)}")
    click.echo(
        f"Next: backupctl keys export --home {home} {key.fingerprint} > submission-public.asc"
    )


@keys.command()
@_home_option
@click.argument("fingerprint")
def export(home: Path, fingerprint: str) -> None:
    """Print the public half of the key FINGERPRINT (ASCII armor) on stdout.

    FINGERPRINT is the whole fingerprint or a unique prefix of at least 16 hex
    characters (spaces and case ignored, so the grouped display can be copied); an
    ambiguous or unknown prefix is refused, listing the keys it matches.
    """
    if not home.is_dir():
        raise click.ClickException(f"{home}: no such GnuPG home")
    keyring = GpgKeyring(home, server=False)
    held = {
        str(key["fingerprint"]): ", ".join(str(uid) for uid in key.get("uids", []))
        for key in keyring.gpg.list_keys()
    }
    try:
        chosen = resolve_fingerprint(fingerprint, held)
    except PrefixError as exc:
        raise click.ClickException(str(exc)) from exc
    if chosen != normalise_fingerprint(fingerprint):
        click.echo(f"Key: {fingerprint_groups(chosen)}", err=True)
    armored = keyring.export_public(chosen)
    if "PRIVATE KEY BLOCK" in armored:  # never, but this output is meant to travel
        raise click.ClickException("refusing to print secret key material")
    click.echo(armored, nl=not armored.endswith("\n"))


@keys.command()
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace the submission key already loaded.")
@click.pass_obj
def load(state: CliState, public_key: Path, replace: bool) -> None:
    """Make PUBLIC_KEY (ASCII-armored) the instance's submission key.

    A file holding any secret key material is refused: the server must never be able
    to open what sources send.
    """
    try:
        armored = public_key.read_bytes().decode("ascii")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{public_key}: not an ASCII-armored public key") from exc
    config = state.config(create=True)  # a first step on a new instance, like db upgrade
    keyrings = sealing_keyrings(config)
    keyring = keyrings[0]
    _check_candidate(keyring, armored)
    if (config.instance_dir / SUBMISSION_KEY_FILE).exists() and not replace:
        current = read_submission_fingerprint(config.instance_dir)
        raise click.ClickException(
            f"a submission key is already loaded ({fingerprint_groups(current)}): "
            "pass --replace to replace it"
        )
    # Into each home that seals: the source interface's and the reviewer interface's.
    for each in keyrings:
        fingerprint = load_submission_key(config.instance_dir, each, armored)
    click.echo(f"Submission key loaded: {fingerprint_groups(fingerprint)}")
    click.echo("Check this fingerprint, read aloud, against the workstation's.")
    if is_development_key(keyring, fingerprint):
        development_key_banner(config.instance_dir)


def _check_candidate(keyring: GpgKeyring, armored: str) -> None:
    """Look at the key without importing it: one usable public key, able to encrypt."""
    scanned = keyring.gpg.scan_keys_mem(armored)
    if any(key.get("type") == "sec" for key in scanned) or "PRIVATE KEY BLOCK" in armored:
        raise click.ClickException(
            "refusing a secret key: the server must only ever hold the public half "
            "(export it with `backupctl keys export`)"
        )
    primaries = [key for key in scanned if key.get("type") == "pub"]
    if len(primaries) != 1:
        raise click.ClickException(f"expected exactly one public key, found {len(primaries)}")
    key = primaries[0]
    if key.get("trust") in _UNUSABLE:
        raise click.ClickException("this key is revoked, expired or invalid")
    if "E" not in str(key.get("cap", "")):
        raise click.ClickException("this key has no usable encryption subkey")


@keys.command()
@click.pass_obj
def show(state: CliState) -> None:
    """Show the instance's submission key fingerprint, in groups of 4."""
    config = state.config()
    fingerprint = read_submission_fingerprint(config.instance_dir)
    keyrings = sealing_keyrings(config)
    keyring = keyrings[0]
    click.echo(fingerprint_groups(fingerprint))
    if not all(each.has_public_key(fingerprint) for each in keyrings):
        raise click.ClickException("the submission public key is not in the server keyring")
    if is_development_key(keyring, fingerprint):
        development_key_banner(config.instance_dir)
