"""`backupctl custody`: the chain of custody.

On the air-gapped workstation: `init`, `trust`, `import`, `items`, `decrypt`, `consent`,
`judicial`, `log`; `authority` and `seal` (judicial files sealed to an authority) live
in `backupctl/airgap/cmd_authority.py`. The server's commands of the group
(`receipt-key`, `verify-log`, `rotate-receipt-key`) live in
`backupctl/server/cmd_receipts.py`.
Anywhere, with public keys only: `verify` a judicial file.

Item ids may be typed as any unique prefix of at least 8 characters (the short ids
`import` and `items` print); a fingerprint checked against a published one, as its
first 16 characters or more (`workstation/prefixes.py` says why the two differ).
"""

from __future__ import annotations

from pathlib import Path

import click

from backupctl._common import echo_removed, read_passphrase_file
from keys.lifecycle import fingerprint_groups
from keys.receipts import VerifyKey
from workstation.attachments import refresh_reports
from workstation.bundle import import_bundle, imported_items, load_item, resolve_item
from workstation.clean import require_mat2
from workstation.consent import latest_by_source, record_text, workspace_readings
from workstation.custody_log import LOG_NAME, PUBLIC_KEY_NAME, Workspace, verify_log
from workstation.errors import WorkstationError
from workstation.evidence import decrypt_item
from workstation.judicial import build_judicial, manifest_of, verify_judicial
from workstation.judicial_consent import KEY as CONSENT_KEY
from workstation.judicial_consent import consent_lines
from workstation.prefixes import check_fingerprint, checkable

_WORKSPACE = click.argument("workspace", type=click.Path(file_okay=False, path_type=Path))
_KEY_PASSPHRASE = click.option(
    "--key-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Passphrase of the workstation key, from this file's first line.",
)
_ACTOR = click.option("--actor", help="Who is acting (default: the login name).")


def _passphrase(path: Path | None, prompt: str, confirm: bool = False) -> str:
    if path is not None:
        return read_passphrase_file(path)
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def _open(workspace: Path, key_passphrase_file: Path | None, actor: str | None) -> Workspace:
    phrase = _passphrase(key_passphrase_file, "Passphrase of the workstation key")
    return Workspace.open(workspace, phrase, actor)


@click.group()
def custody() -> None:
    """Custody receipts, export bundles, the workstation custody log, judicial files."""


@custody.command()
@_WORKSPACE
@_KEY_PASSPHRASE
@_ACTOR
def init(workspace: Path, key_passphrase_file: Path | None, actor: str | None) -> None:
    """WORKSTATION: create a workspace and its workstation signing key."""
    phrase = _passphrase(key_passphrase_file, "New workstation key passphrase", confirm=True)
    if len(phrase) < 12:
        raise click.ClickException("use a passphrase of at least 12 characters")
    made = Workspace.create(workspace, phrase, actor)
    click.echo(f"workstation key: {fingerprint_groups(made.key.fingerprint)}")


@custody.command()
@_WORKSPACE
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--fingerprint",
    required=True,
    help="The fingerprint published out of band (whole, or its first 16+ characters).",
)
@_KEY_PASSPHRASE
@_ACTOR
def trust(
    workspace: Path,
    public_key: Path,
    fingerprint: str,
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """WORKSTATION: pin a server's receipt public key, if it has FINGERPRINT."""
    key = VerifyKey.from_pem(public_key.read_bytes())
    if not check_fingerprint(fingerprint, key.fingerprint, "receipt key"):
        raise click.ClickException(f"{public_key}: fingerprint is {key.fingerprint}: not trusted")
    _open(workspace, key_passphrase_file, actor).trust_receipt_key(key.pem())
    click.echo(f"trusted receipt key {fingerprint_groups(key.fingerprint)}")


@custody.command("import")
@_WORKSPACE
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_KEY_PASSPHRASE
@_ACTOR
def import_(
    workspace: Path, bundle: Path, key_passphrase_file: Path | None, actor: str | None
) -> None:
    """WORKSTATION: verify an export bundle; import it only if everything verifies."""
    items = import_bundle(_open(workspace, key_passphrase_file, actor), bundle)
    for item in items:
        click.echo(f"imported {item.kind} {item.uuid[:8]} {item.describe()}")
    click.echo(f"{len(items)} new item(s); every signature, link and hash verified")


@custody.command("items")
@_WORKSPACE
@_KEY_PASSPHRASE
@_ACTOR
def list_items(workspace: Path, key_passphrase_file: Path | None, actor: str | None) -> None:
    """WORKSTATION: list the imported items (short id, stored name, kind, time received,
    decrypted or not), in the order the server received them."""
    opened = _open(workspace, key_passphrase_file, actor)
    for item in imported_items(opened):
        done = (opened.dir("originals") / item.uuid).is_dir()
        state = "decrypted" if done else "not decrypted"
        click.echo(f"{item.uuid[:8]}  {item.describe()}  {state}")


@custody.command()
@_WORKSPACE
@click.argument("items", nargs=-1, required=True)
@click.option(
    "--home", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--passphrase-file",
    "passphrase_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Submission key passphrase(s); repeat for older keys after a rotation.",
)
@_KEY_PASSPHRASE
@_ACTOR
def decrypt(
    workspace: Path,
    items: tuple[str, ...],
    home: Path,
    passphrase_files: tuple[Path, ...],
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """WORKSTATION: decrypt ITEMS; check them against their sealed manifests; make
    cleaned working copies (mat2, neutral names) for sharing."""
    require_mat2()  # before any passphrase is asked or anything written
    opened = _open(workspace, key_passphrase_file, actor)
    phrases = [read_passphrase_file(p) for p in passphrase_files] or [
        _passphrase(None, "Passphrase of the submission secret key")
    ]
    chosen = [load_item(opened, resolve_item(opened, typed)) for typed in items]
    for item in chosen:
        done = decrypt_item(opened, item, home, phrases)
        checked = "matches its sealed manifest" if done.manifest else "no sealed manifest"
        click.echo(f"{item.uuid[:8]}: {done.original} ({checked})")
        if done.working_copy is None:
            click.echo("  working copy: none: mat2 cannot clean this format; share nothing of it")
        else:
            click.echo(f"  working copy (cleaned, share only this): {done.working_copy}")
        echo_removed(done.original.name, done.removed)
    # Report pages: received when, which files came with it (rewritten as files decrypt).
    for page in refresh_reports(opened, {item.source_uuid for item in chosen}):
        click.echo(f"report page: {page}")


@custody.command()
@_WORKSPACE
@_KEY_PASSPHRASE
@_ACTOR
def consent(workspace: Path, key_passphrase_file: Path | None, actor: str | None) -> None:
    """WORKSTATION: each source's latest consent decrypted here, as a consent record
    (document, answers, check code) to enter on the case page."""
    readings = workspace_readings(_open(workspace, key_passphrase_file, actor))
    latest = latest_by_source(readings)
    for source, reading in sorted(latest.items(), key=lambda kv: kv[1].designation):
        click.echo(f"source {reading.designation.replace('_', ' ')} ({source}), latest:")
        click.echo(record_text(reading))
        older = sorted(
            (r for r in readings if r is not reading and r.source_uuid == source),
            key=lambda r: -r.number,
        )
        for old in older:
            click.echo(f"  superseded: {old.document_name}")
    if not latest:
        click.echo("no consent document decrypted in this workspace")


@custody.command()
@_WORKSPACE
@click.argument("items", nargs=-1, required=True)
@click.option("--title", required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path))
@_KEY_PASSPHRASE
@_ACTOR
def judicial(
    workspace: Path,
    items: tuple[str, ...],
    title: str,
    out_dir: Path | None,
    key_passphrase_file: Path | None,
    actor: str | None,
) -> None:
    """WORKSTATION: build a signed judicial file of decrypted ITEMS.

    Refused unless each source's latest consent decrypted in the workspace says yes to
    use in court. Prints the file's path, then the consent documents it relied on.
    """
    opened = _open(workspace, key_passphrase_file, actor)
    chosen = [resolve_item(opened, typed) for typed in items]
    path = build_judicial(opened, chosen, out_dir or opened.dir("judicial"), title)
    click.echo(str(path))
    for line in consent_lines(manifest_of(path)[CONSENT_KEY]):
        click.echo(line)


@custody.command("log")
@_WORKSPACE
@click.option(
    "--workstation-key",
    "fingerprint",
    help="Expected workstation key fingerprint (whole, or its first 16+ characters).",
)
def show_log(workspace: Path, fingerprint: str | None) -> None:
    """WORKSTATION: verify and print the custody log (public key only)."""
    key = VerifyKey.from_pem((workspace / PUBLIC_KEY_NAME).read_bytes())
    if fingerprint and not check_fingerprint(fingerprint, key.fingerprint, "workstation key"):
        raise WorkstationError(f"the workspace key is {key.fingerprint}, not the expected one")
    for record in verify_log(workspace / LOG_NAME, key):
        body = record.body
        click.echo(
            f"#{body['seq']} {body['at']} {body['actor']} {body['action']} {body['details']}"
        )
    click.echo(f"VERIFIED: signed and chained by {fingerprint_groups(key.fingerprint)}")


@custody.command()
@click.argument("judicial_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--workstation-key", help="Expected workstation key fingerprint (or its first 16+ characters)."
)
@click.option(
    "--receipt-key", "receipt_keys", multiple=True, help="Expected receipt key(s), likewise."
)
@click.option(
    "--tsa-cert",
    "tsa_certs",
    multiple=True,
    help="Expected TSA certificate SHA-256 fingerprint(s), likewise.",
)
def verify(
    judicial_file: Path,
    workstation_key: str | None,
    receipt_keys: tuple[str, ...],
    tsa_certs: tuple[str, ...],
) -> None:
    """ANYWHERE: verify a judicial file with public keys only; print a verdict (when an
    outside time-stamping authority saw each item's receipt, and the consent to court the
    file relied on)."""
    checkable(workstation_key or "0" * 64, "workstation key")
    for expected in receipt_keys:
        checkable(expected, "receipt key")
    for expected in tsa_certs:
        checkable(expected, "TSA certificate")
    verdict = verify_judicial(
        judicial_file,
        expect_workstation=workstation_key,
        expect_receipt_keys=receipt_keys,
        expect_tsa_certificates=tsa_certs,
    )
    click.echo(verdict.report())
    if not (workstation_key and receipt_keys):
        click.echo(
            "NOTE: compare the fingerprints above with those the organisation publishes; "
            "pass --workstation-key and --receipt-key to have them enforced."
        )
    if not verdict.ok:
        raise SystemExit(1)
