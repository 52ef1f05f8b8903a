"""`backupctl workstation release make|verify` end to end: coded rows in, a signed
release, HXL exports and SVG charts out (real gpg, libhxl, OpenDP), the ledger kept;
verify with the public key only; a tampered release refused; differencing refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from backupctl.cli import main
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.unit.workstation.test_observatory_release import random_rows, row
from workstation.observatory.release_input import row_to_json


def _write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row_to_json(r)) + "\n" for r in rows))
    return path


def _make(key: tuple[GeneratedKey, Path], tmp: Path, rows: Path, out: Path, *extra: str):
    passphrase = tmp / "passphrase"
    passphrase.write_text(SUBMISSION_PASSPHRASE + "\n")
    return CliRunner().invoke(
        main,
        [
            "workstation",
            "release",
            "make",
            "--rows",
            str(rows),
            "--home",
            str(key[1]),
            "--key",
            key[0].fingerprint,
            "--passphrase-file",
            str(passphrase),
            "--ledger",
            str(tmp / "ledger.json"),
            "--out",
            str(out),
            "--dims",
            "period,region,act",
            "--from",
            "2025-01",
            "--to",
            "2025-06",
            "--country",
            "CD",
            *extra,
        ],
    )


def _verify(document: Path, key: Path) -> object:
    return CliRunner().invoke(
        main, ["workstation", "release", "verify", str(document), "--key", str(key)]
    )


def test_make_then_verify_then_refuse_tampering_and_differencing(
    submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    rows = random_rows(400, seed=31)
    refused = row("no-consent", region="CD-KN", consent_statistics=False, victim_count=9)
    source = _write_rows(tmp_path / "rows.jsonl", [*rows, refused])
    out = tmp_path / "release"
    result = _make(submission_key, tmp_path, source, out)
    assert result.exit_code == 0, result.output
    assert "records (incidents) behind it: 400" in result.output

    (document,) = out.glob("release-*[0-9a-f].json")
    stem = document.name.removesuffix(".json")
    names = {p.name for p in out.iterdir()}
    assert {
        f"{stem}.json.asc",
        f"{stem}.csv",
        f"{stem}.hxl.json",
        f"{stem}-time.svg",
        f"{stem}-region.svg",
        f"{stem}-act.svg",
        "signing-key.asc",
    } <= names
    csv_lines = (out / f"{stem}.csv").read_text().splitlines()
    assert csv_lines[1] == "#date,#adm1+code,#event+type+code,#affected+total,#meta+total"
    for svg in out.glob("*.svg"):
        assert not re.search(r"<script|javascript:", svg.read_text(), re.I)
    # Nothing of the coded rows leaves: no incident id in any file written.
    ids = {r.incident_id for r in rows} | {"no-consent"}
    for path in out.iterdir():
        if path.suffix != ".asc":
            assert not ids & set(re.findall(r"[\w-]+", path.read_text())), path.name

    # The verifier pins the key it was given (here, the public key exported).
    pinned = tmp_path / "pinned.asc"
    pinned.write_text(submission_key[0].public_armored)
    result = _verify(document, pinned)
    assert result.exit_code == 0, result.output
    assert "good signature" in result.output
    assert "k = 5" in result.output
    assert "scope: CD, 2025-01 to 2025-06 by month" in result.output
    assert "dimensions: period, region, act" in result.output
    assert "differential privacy: none" in result.output
    assert "software: backup " in result.output

    # One count changed by one: refused.
    data = json.loads(document.read_bytes())
    entry = next(e for e in data["entries"] if e["value"])
    entry["value"] += 1
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(
        json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    (tmp_path / "tampered.json.asc").write_bytes((out / f"{stem}.json.asc").read_bytes())
    result = _verify(tampered, pinned)
    assert result.exit_code == 1
    assert "REFUSED: bad signature" in result.output

    # The same table again with one more record: the ledger refuses (differencing).
    more = _write_rows(tmp_path / "more.jsonl", [*rows, row("late", region="CD-SK")])
    result = _make(submission_key, tmp_path, more, tmp_path / "second")
    assert result.exit_code == 1
    assert "singled out by difference" in result.output
    assert not (tmp_path / "second").exists() or not list((tmp_path / "second").iterdir())

    # With noise (OpenDP) it is allowed, and the budget is stated.
    result = _make(submission_key, tmp_path, more, tmp_path / "noisy", "--epsilon", "1")
    assert result.exit_code == 0, result.output
    assert "opendp" in result.output and "epsilon 1.0" in result.output
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert [entry["epsilon"] for entry in ledger["releases"]] == [None, 1.0]


def test_make_in_the_release_language(
    submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    """`--language fr`: the charts in French words; the release and the HXL exports keep
    their codes (machine data); a language without a catalogue is refused up front."""
    source = _write_rows(tmp_path / "rows.jsonl", random_rows(400, seed=32))
    refused = _make(submission_key, tmp_path, source, tmp_path / "de", "--language", "de")
    assert refused.exit_code == 2 and "--language" in refused.output
    assert not (tmp_path / "de").exists() and not (tmp_path / "ledger.json").exists()
    out = tmp_path / "release"
    result = _make(submission_key, tmp_path, source, out, "--language", "fr")
    assert result.exit_code == 0, result.output
    (document,) = out.glob("release-*[0-9a-f].json")
    stem = document.name.removesuffix(".json")
    act = (out / f"{stem}-act.svg").read_text()
    assert 'lang="fr"' in act and "Victimes par acte principal" in act
    assert ">Viol</text>" in act and ">rape<" not in act
    region = (out / f"{stem}-region.svg").read_text()
    assert ">Sud-Kivu</text>" in region and "CD-SK" not in region
    assert ">mars 2025</text>" in (out / f"{stem}-time.svg").read_text()
    csv_text = (out / f"{stem}.csv").read_text()
    assert "\n2025-03,CD-SK,rape," in csv_text and "Viol" not in csv_text
    hxl = json.loads((out / f"{stem}.hxl.json").read_text())
    assert {o["#event+type+code"] for o in hxl} >= {"rape", "sexual_slavery", ""}
    assert "rape" in document.read_text() and "Viol" not in document.read_text()
    pinned = tmp_path / "pinned.asc"
    pinned.write_text(submission_key[0].public_armored)
    assert _verify(document, pinned).exit_code == 0
