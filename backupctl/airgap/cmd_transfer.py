"""`backupctl workstation transfer`: re-seal a referred case for a partner organisation,
on the AIR-GAPPED workstation (workstation.transfer; docs/federation.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from backupctl._common import check_gnupg_home, echo_removed, read_passphrase_file
from keys.errors import KeyOperationError
from keys.receipts import VerifyKey
from vault.transfer_package import TransferError
from workstation.errors import WorkstationError
from workstation.observatory.release import ReleaseError
from workstation.transfer import SentFile, seal_transfer

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
@click.option(
    "--include-uncleaned",
    "include_uncleaned",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="ITEM",
    help="Send file ITEM (its number, as a refusal names it) as it is although mat2 "
    "cannot clean it: its metadata goes with it. Repeat for several.",
)
@click.option(
    "--scratch",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder on this workstation's disk where files are decrypted and cleaned, then "
    "removed (default: the system's temporary folder). Never the medium --out is on.",
)
def transfer(
    request: Path,
    home: Path,
    passphrase_file: Path | None,
    recipient: str,
    receipt_keys: tuple[Path, ...],
    out: Path,
    include_uncleaned: tuple[int, ...],
    scratch: Path | None,
) -> None:
    """Check REQUEST against our pinned receipt keys, re-seal its items to --recipient
    only and sign the package, for `backupctl federation transfer --package`.

    Only cleaned copies leave: each file goes as a copy cleaned of its metadata by mat2
    (which must be installed), under a neutral name, N-<kind>.<ext> (N its item number),
    and what was removed is listed. A file mat2 cannot clean refuses the transfer
    unless --include-uncleaned names it. Messages go as the source wrote them."""
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
        resealed = seal_transfer(
            request.read_bytes(),
            home=home,
            passphrase=passphrase,
            recipient=recipient,
            trusted=trusted,
            include_uncleaned=set(include_uncleaned),
            scratch=scratch,
        )
    except (TransferError, ReleaseError, WorkstationError) as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc
    body = resealed.body
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        json.dump(body, handle, sort_keys=True)
    for sent in resealed.files:
        _echo_file(sent)
    click.echo(f"{len(body['items'])} item(s) sealed to {recipient}, signed: {out}")


def _echo_file(sent: SentFile) -> None:
    """What became of one file: its name in the package, and its metadata."""
    if sent.uncleaned is None:
        click.echo(f"item {sent.item}: {sent.original} -> {sent.name} (cleaned copy)")
        echo_removed(sent.original, sent.removed)
        return
    click.echo(
        f"WARNING: item {sent.item}: {sent.original} -> {sent.name}: NOT CLEANED "
        f"({sent.uncleaned}); sent as it is, as --include-uncleaned {sent.item} asked: "
        "whatever metadata it holds goes with it"
    )
    for entry in sent.removed:
        click.echo(f"    carries  {entry}")
