"""`backupctl workstation`: tools for the air-gapped workstation, never the server.

They need no instance, no database and no network: only the GnuPG home holding the
submission secret key, and the files carried over from the reviewer interface.
"""

from __future__ import annotations

from pathlib import Path

import click

from backupctl._common import check_gnupg_home, echo_removed, read_passphrase_file
from backupctl.airgap.cmd_federation import federation
from backupctl.airgap.cmd_incidents import incident
from backupctl.airgap.cmd_release import release
from backupctl.airgap.cmd_transfer import transfer
from vault import reports
from workstation.attachments import in_run
from workstation.clean import clean_downloads, require_mat2
from workstation.consent import ConsentReading, fold_readings, reading_of, record_text
from workstation.decrypt import decrypt_downloads
from workstation.report import render_report_file


@click.group()
def workstation() -> None:
    """Air-gapped workstation tools (run these on the offline machine only)."""


workstation.add_command(incident)  # coding incidents for the observatory (cmd_incidents)
workstation.add_command(release)  # statistics releases (docs/observatory.md)
workstation.add_command(federation)  # counting an incident once across organisations
workstation.add_command(transfer)  # re-sealing a referred case for a partner organisation


@workstation.command()
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
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the decrypted files (created 0700 if missing).",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def decrypt(
    home: Path, passphrase_file: Path | None, out_dir: Path, files: tuple[Path, ...]
) -> None:
    """Decrypt downloaded FILES into --out, on the AIR-GAPPED workstation.

    N-designation-msg.gpg becomes N-designation-msg.txt, N-designation-reply.gpg
    becomes N-designation-reply.txt, and N-designation-doc.gz.gpg becomes
    N-designation-doc-<original name> (the name made safe: base name only, nothing
    hidden, no control characters, no launcher extension): every file keeps the
    source's designation and its number. A report also gets N-designation-report.html,
    listing the files sent with it. Nothing is overwritten: a taken name gets a _2,
    _3... suffix. If one file fails, nothing from this run is kept.

    Every document also gets a CLEANED copy in --out/cleaned/, named N-<kind>.<ext>
    (image, audio, video, document): metadata removed by mat2, which must be installed.
    The metadata found is listed. Share only cleaned copies, never an original.
    """
    mat2 = require_mat2()  # before anything is asked or decrypted
    check_gnupg_home(home)
    if passphrase_file is not None:
        passphrase = read_passphrase_file(passphrase_file)
    else:
        passphrase = click.prompt("Passphrase of the submission secret key", hide_input=True)
    outputs = decrypt_downloads(home, passphrase, list(files), out_dir)
    try:
        cleaned = clean_downloads(mat2, list(zip(files, outputs, strict=True)), out_dir)
    except BaseException:
        for output in outputs:  # all or nothing, as the decryption itself
            output.unlink(missing_ok=True)
        raise
    readings = []
    attachments = in_run(list(zip(files, outputs, strict=True)))
    for source, output in zip(files, outputs, strict=True):
        click.echo(f"{source.name} -> {output}")
        # A structured ALERT/ASSIST report is a message holding JSON: also give a page.
        if output.name.endswith("-msg.txt"):
            page = render_report_file(output, out_dir, attachments=attachments.get(output))
            if page is not None:
                click.echo(f"{source.name} -> {page} (report, readable page)")
                readings += _consent_reading(source, output)
    for original, result in cleaned:
        if result.copy is None:
            click.echo(
                f"WARNING: {original.name}: mat2 cannot clean this format: no cleaned copy; "
                "do not share it"
            )
        else:
            click.echo(f"{original.name} -> {result.copy} (cleaned copy: share only this)")
        echo_removed(original.name, result.removed)
    # Consent records: each document with the ones before it given here (in order of N).
    for reading in sorted(fold_readings(readings), key=lambda r: (r.designation, r.number)):
        click.echo(record_text(reading))


def _consent_reading(download: Path, message: Path) -> list[ConsentReading]:
    document = reports.loads(message.read_text(encoding="utf-8"))
    reading = reading_of(document, download.name) if document is not None else None
    return [] if reading is None else [reading]
