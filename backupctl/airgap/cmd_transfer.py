"""`backupctl workstation transfer`: re-seal a referred case for a partner organisation,
on the AIR-GAPPED workstation (workstation.transfer; docs/federation.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from backupctl._common import check_gnupg_home, read_passphrase_file
from keys.errors import KeyOperationError
from keys.receipts import VerifyKey
from vault.transfer_package import TransferError
from workstation.observatory.release import ReleaseError
from workstation.transfer import seal_transfer

__all__ = ["transfer"]


@click.command("transfer")
@click.argument("request", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--home",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="GnuPG home holding the submission secret key.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the key's passphrase from this file's first line instead of asking.",
)
@click.option(
    "--recipient",
    required=True,
    help="The partner organisation's submission key fingerprint, as THEY gave it.",
)
@click.option(
    "--receipt-key",
    "receipt_keys",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Our server's pinned receipt public key (PEM); repeat across a rotation.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def transfer(
    request: Path,
    home: Path,
    passphrase_file: Path | None,
    recipient: str,
    receipt_keys: tuple[Path, ...],
    out: Path,
) -> None:
    """Check REQUEST against our pinned receipt keys, re-seal its items to --recipient
    only and sign the package, for `backupctl federation transfer --package`."""
    check_gnupg_home(home)
    try:
        trusted = [VerifyKey.from_pem(path.read_bytes()) for path in receipt_keys]
    except KeyOperationError as exc:
        raise click.ClickException(f"--receipt-key: {exc}") from exc
    passphrase = (
        read_passphrase_file(passphrase_file)
        if passphrase_file is not None
        else str(click.prompt("Passphrase of the submission key", hide_input=True))
    )
    try:
        body = seal_transfer(
            request.read_bytes(),
            home=home,
            passphrase=passphrase,
            recipient=recipient,
            trusted=trusted,
        )
    except (TransferError, ReleaseError) as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        json.dump(body, handle, sort_keys=True)
    click.echo(f"{len(body['items'])} item(s) sealed to {recipient}, signed: {out}")
