"""`backupctl workstation release`: de-identified statistics releases (docs/observatory.md).

`make` runs on the AIR-GAPPED workstation: it counts the coded rows (JSON lines, one
`ReleaseRow` each), suppresses small cells, checks the release ledger against
differencing, signs with the workstation's OpenPGP key and writes the release, its
signature, HXL exports and SVG charts. `verify` runs anywhere, with the public key only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from backupctl._common import check_gnupg_home, read_passphrase_file
from keys.gpg import GpgKeyring
from workstation.observatory.charts import charts
from workstation.observatory.release import DIMENSIONS, ReleaseError, ReleaseSpec
from workstation.observatory.release_input import RowError, row_from_json
from workstation.observatory.release_ledger import DEFAULT_BUDGET, Ledger, make_release
from workstation.observatory.release_sign import release_files, sign_release, verify_release

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
    "--rows",
    "rows_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Coded rows, one JSON object a line (incident-victim-group rows).",
)
@click.option(
    "--home",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="GnuPG home holding the workstation's secret key.",
)
@click.option("--key", "fingerprint", required=True, help="Fingerprint of the signing key.")
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the key's passphrase from this file's first line instead of asking.",
)
@click.option(
    "--ledger",
    "ledger_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The workstation's release ledger (created if missing; never leaves the machine).",
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
def make(
    rows_path: Path,
    home: Path,
    fingerprint: str,
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
) -> None:
    """Make, sign and write a release, on the AIR-GAPPED workstation."""
    # libhxl is a workstation dependency (pyproject's `workstation` extra): imported
    # here so that `backupctl` on the server, which lacks it, still starts.
    from workstation.observatory.export import to_csv, to_json

    check_gnupg_home(home)
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
        rows = _read_rows(rows_path)
        ledger = Ledger(ledger_path, budget=budget)
        made = make_release(rows, spec, ledger)
        if passphrase_file is not None:
            passphrase = read_passphrase_file(passphrase_file)
        else:
            passphrase = click.prompt("Passphrase of the workstation key", hide_input=True)
        data, signature = sign_release(made.document, home, fingerprint, passphrase)
        path = release_files(made.document, out_dir, data, signature)
        stem = path.name.removesuffix(".json")
        (out_dir / f"{stem}.csv").write_text(to_csv(made.document), encoding="utf-8")
        (out_dir / f"{stem}.hxl.json").write_text(to_json(made.document), encoding="utf-8")
        for name, svg in charts(made.document).items():
            (out_dir / f"{stem}-{name}.svg").write_text(svg, encoding="utf-8")
        key_path = out_dir / "signing-key.asc"
        key_path.write_text(GpgKeyring(home, server=False).export_public(fingerprint))
        ledger.record(made, spec)
    except ReleaseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"release {made.id} -> {path}")
    click.echo(_summary(made.document))


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
