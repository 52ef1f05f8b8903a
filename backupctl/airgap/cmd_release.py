"""`backupctl workstation release`: de-identified statistics releases (docs/observatory.md).

`make` runs on the AIR-GAPPED workstation: it counts the incidents coded in a workspace
(`--workspace`: records opened from the sealed store and consent read from the
workspace's decrypted consent documents, in memory; the ledger sealed in the workspace),
or, for tests and rows imported from another coding tool, a rows file (`--rows`: JSON
lines, one `ReleaseRow` each, micro-data in clear), suppresses small cells, checks the
release ledger against differencing, signs with the workstation's OpenPGP key and writes
the release, its signature, HXL exports and SVG charts (the charts in words, in the
`--language` of the release: English by default; the release and the HXL exports keep
their codes whatever the language). `verify` runs anywhere, with the public key only.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from backupctl._common import check_gnupg_home, read_passphrase_file
from backupctl.airgap.cmd_custody import _open
from backupctl.airgap.cmd_federation import open_sealed_json
from keys.gpg import GpgKeyring
from vault.observatory_words import LANGUAGES, Words
from workstation.errors import WorkstationError
from workstation.observatory.charts import charts
from workstation.observatory.combine import combine as combine_releases
from workstation.observatory.dedupe import apply_exclusions
from workstation.observatory.incidents import statistics_consent
from workstation.observatory.release import DIMENSIONS, Release, ReleaseError, ReleaseSpec
from workstation.observatory.release_input import ReleaseRow, RowError, row_from_json
from workstation.observatory.release_ledger import (
    DEFAULT_BUDGET,
    Ledger,
    SealedLedger,
    make_release,
)
from workstation.observatory.release_sign import (
    release_files,
    sign_release,
    verify_release,
    verify_release_signer,
)
from workstation.observatory.store import open_book, seal_recipient
from workstation.observatory.to_release import release_rows

__all__ = ["release"]


@click.group()
def release() -> None:
    """Statistics releases: make (air-gapped workstation) and verify (anywhere)."""


def _read_rows(path: Path) -> list[Any]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(row_from_json(json.loads(line)))
            except (ValueError, RowError) as exc:
                raise click.ClickException(f"{path.name} line {number}: not a row ({exc})") from exc
    return rows


@release.command()
@click.option(
    "--workspace",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Count the incidents coded in this workspace (sealed store, consent read now).",
)
@click.option(
    "--key-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --workspace: the workstation key's passphrase, from this file's first line.",
)
@click.option("--actor", help="With --workspace: who is acting (default: the login name).")
@click.option(
    "--rows",
    "rows_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For tests and imports only: rows in a file, one JSON object a line, in clear.",
)
@click.option(
    "--home",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="GnuPG home holding the workstation's secret key.",
)
@click.option(
    "--key",
    "fingerprint",
    help="Fingerprint of the signing key (default with --workspace: the newest secret key).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the key's passphrase from this file's first line instead of asking.",
)
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --rows: the release ledger file (created if missing; never leaves the "
    "machine). With --workspace the ledger is sealed inside the workspace.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the release, its signature, exports and charts.",
)
@click.option(
    "--dims",
    required=True,
    help=f"Comma-separated dimensions, among: {', '.join(DIMENSIONS)}.",
)
@click.option("--from", "first_month", required=True, help="First month, YYYY-MM.")
@click.option("--to", "last_month", required=True, help="Last month, YYYY-MM (included).")
@click.option("--country", "countries", multiple=True, help="ISO 3166-1 code (repeatable).")
@click.option("--unit", type=click.Choice(["month", "year"]), default="month", show_default=True)
@click.option("--k", "k", type=int, default=5, show_default=True, help="Smallest count shown.")
@click.option("--epsilon", type=float, help="Add OpenDP noise with this privacy budget.")
@click.option(
    "--cap", type=int, default=10, show_default=True, help="Victims one incident adds at most (DP)."
)
@click.option(
    "--budget",
    type=float,
    default=DEFAULT_BUDGET,
    show_default=True,
    help="Total epsilon an incident may spend over all noisy releases.",
)
@click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the charts' text and category names (the data keep their codes).",
)
@click.option(
    "--organisation",
    help="A release for the federation: our federation identity (stated in the release).",
)
@click.option(
    "--federation-exclusions",
    "exclusion_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --organisation: sealed exclusions (`federation match`), one per peer that "
    "sorts before us; the incidents it counts are left out.",
)
def make(
    workspace: Path | None,
    key_passphrase_file: Path | None,
    actor: str | None,
    rows_path: Path | None,
    home: Path,
    fingerprint: str | None,
    passphrase_file: Path | None,
    ledger_path: Path,
    out_dir: Path,
    dims: str,
    first_month: str,
    last_month: str,
    countries: tuple[str, ...],
    unit: str,
    k: int,
    epsilon: float | None,
    cap: int,
    budget: float,
    language: str,
    organisation: str | None,
    exclusion_paths: tuple[Path, ...],
) -> None:
    """Make, sign and write a release, on the AIR-GAPPED workstation."""
    check_gnupg_home(home)
    if exclusion_paths and organisation is None:
        raise click.UsageError("--federation-exclusions needs --organisation")
    if (workspace is None) == (rows_path is None):
        raise click.UsageError("give --workspace (coded incidents) or --rows, not both")
    if workspace is not None and ledger_path is not None:
        raise click.UsageError("--ledger is for --rows: a workspace keeps its ledger sealed")
    if rows_path is not None and (ledger_path is None or fingerprint is None):
        raise click.UsageError("--rows needs --ledger and --key")
    keyring = GpgKeyring(home, server=False)
    if fingerprint is None:
        fingerprint = seal_recipient(keyring)
    if passphrase_file is not None:
        passphrase = read_passphrase_file(passphrase_file)
    else:
        passphrase = click.prompt("Passphrase of the workstation key", hide_input=True)
    try:
        spec = ReleaseSpec(
            dimensions=tuple(d.strip() for d in dims.split(",") if d.strip()),
            first_month=first_month,
            last_month=last_month,
            countries=tuple(sorted(set(countries))),
            period_unit=unit,  # type: ignore[arg-type]
            k=k,
            epsilon=epsilon,
            contribution_cap=cap,
        )
        with ExitStack() as stack:
            ledger: Ledger
            if workspace is not None:
                opened = _open(workspace, key_passphrase_file, actor)
                # Under the store's lock; rows and ledger in memory only.
                book = stack.enter_context(open_book(opened, home, [passphrase]))
                records = list(book.records.values())
                rows = release_rows(records, statistics_consent(opened, records))
                ledger = SealedLedger(opened, keyring, [passphrase], budget)
            elif rows_path is not None and ledger_path is not None:
                rows = _read_rows(rows_path)
                ledger = Ledger(ledger_path, budget=budget)
            else:  # pragma: no cover - refused above
                raise click.UsageError("--rows needs --ledger")
            statement: dict[str, Any] | None = None
            logged: dict[str, Any] | None = None
            if organisation is not None:
                exclusions = [open_sealed_json(keyring, p, passphrase) for p in exclusion_paths]
                rows, statement, excluded = apply_exclusions(rows, exclusions, organisation, spec)
                logged = {
                    **statement,
                    "excluded": excluded,
                    "exclusions_sha256": sorted(
                        hashlib.sha256(p.read_bytes()).hexdigest() for p in exclusion_paths
                    ),
                }
            path, made = _make_and_write(
                rows,
                spec,
                ledger,
                home,
                fingerprint,
                passphrase,
                out_dir,
                Words.of(language),
                federation=(statement, logged),
            )
    except (ReleaseError, WorkstationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"release {made.id} -> {path}")
    click.echo(_summary(made.document))


def _make_and_write(
    rows: list[ReleaseRow],
    spec: ReleaseSpec,
    ledger: Ledger,
    home: Path,
    fingerprint: str,
    passphrase: str,
    out_dir: Path,
    words: Words,
    *,
    federation: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None),
) -> tuple[Path, Release]:
    # libhxl is a workstation dependency (pyproject's `workstation` extra): imported
    # here so that `backupctl` on the server, which lacks it, still starts.
    from workstation.observatory.export import to_csv, to_json

    statement, logged = federation
    made = make_release(rows, spec, ledger, federation=statement)
    data, signature = sign_release(made.document, home, fingerprint, passphrase)
    path = release_files(made.document, out_dir, data, signature)
    stem = path.name.removesuffix(".json")
    (out_dir / f"{stem}.csv").write_text(to_csv(made.document), encoding="utf-8")
    (out_dir / f"{stem}.hxl.json").write_text(to_json(made.document), encoding="utf-8")
    for name, svg in charts(made.document, words).items():
        (out_dir / f"{stem}-{name}.svg").write_text(svg, encoding="utf-8")
    key_path = out_dir / "signing-key.asc"
    key_path.write_text(GpgKeyring(home, server=False).export_public(fingerprint))
    ledger.record(made, spec, federation=logged)
    return path, made


@release.command()
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The workstation's public key (armored), as you pinned it.",
)
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detached signature (default: DOCUMENT.asc).",
)
def verify(document: Path, key_path: Path, signature: Path | None) -> None:
    """Check a release's signature with the public key only, and what it states."""
    signature = signature or document.with_name(document.name + ".asc")
    if not signature.exists():
        raise click.ClickException(f"no signature: {signature.name} is missing")
    try:
        checked = verify_release(
            document.read_bytes(), signature.read_bytes(), key_path.read_bytes()
        )
    except ReleaseError as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc
    click.echo(f"release {checked['id']}: good signature")
    click.echo(_summary(checked))


@release.command()
@click.argument(
    "documents",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--origin-key",
    "origin_keys",
    multiple=True,
    required=True,
    help="ORGANISATION=KEYFILE: the public key pinned for each organisation (repeatable).",
)
@click.option(
    "--home",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="GnuPG home holding the observatory's signing key.",
)
@click.option("--key", "fingerprint", required=True, help="Fingerprint of the signing key.")
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the key's passphrase from this file's first line instead of asking.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def combine(
    documents: tuple[Path, ...],
    origin_keys: tuple[str, ...],
    home: Path,
    fingerprint: str,
    passphrase_file: Path | None,
    out_dir: Path,
) -> None:
    """OBSERVATORY (offline): add up organisations' signed releases for the federation
    into one combined release, signed, with the same suppression."""
    check_gnupg_home(home)
    pinned: dict[str, bytes] = {}
    for item in origin_keys:
        name, sep, key_file = item.partition("=")
        if not sep or not Path(key_file).is_file():
            raise click.UsageError(f"--origin-key {item}: ORGANISATION=KEYFILE")
        pinned[name] = Path(key_file).read_bytes()
    if passphrase_file is not None:
        passphrase = read_passphrase_file(passphrase_file)
    else:
        passphrase = click.prompt("Passphrase of the observatory key", hide_input=True)
    try:
        inputs = []
        for document in documents:
            raw = document.read_bytes()
            claimed = json.loads(raw.decode("utf-8")).get("federation") or {}
            origin = str(claimed.get("organisation", ""))
            if origin not in pinned:
                raise ReleaseError(f"{document.name}: no key pinned for its organisation")
            detached = document.with_name(document.name + ".asc")
            if not detached.exists():
                raise ReleaseError(f"no signature: {detached.name} is missing")
            inputs.append(verify_release_signer(raw, detached.read_bytes(), pinned[origin]))
        combined = combine_releases(inputs)
        data, signature = sign_release(combined, home, fingerprint, passphrase)
    except (ReleaseError, ValueError) as exc:
        raise click.ClickException(f"REFUSED: {exc}") from exc
    path = release_files(combined, out_dir, data, signature)
    (out_dir / "signing-key.asc").write_text(
        GpgKeyring(home, server=False).export_public(fingerprint)
    )
    click.echo(f"combined release {combined['id']} -> {path}")
    click.echo(_summary(combined))


def _summary(document: dict[str, Any]) -> str:
    method = document["method"]
    scope = document["scope"]
    dp = method["differential_privacy"]
    lines = [
        f"created: {document['created']}",
        f"software: {', '.join(f'{k} {v}' for k, v in sorted(document['software'].items()))}",
        f"scope: {', '.join(scope['countries']) or 'all countries'}, "
        f"{scope['first_month']} to {scope['last_month']} by {scope['period_unit']}",
        f"dimensions: {', '.join(d['name'] for d in document['dimensions'])}",
        f"records (incidents) behind it: {document['records']}"
        + (" (with noise)" if document["records_noisy"] else ""),
        f"method: {method['measure']}, k = {method['k']}, {method['act_rule']}",
        f"suppression: {document['suppression']['primary']} primary, "
        f"{document['suppression']['complementary']} complementary, "
        f"of {document['suppression']['entries']} entries",
        "differential privacy: "
        + (
            f"{dp['library']} {dp['mechanism']}, epsilon {dp['epsilon']}, "
            f"contribution cap {dp['contribution_cap']}"
            if dp
            else "none"
        ),
    ]
    return "\n".join(lines)
