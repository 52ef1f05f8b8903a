"""`backupctl workstation release make --workspace` end to end, with real gpg: sources
send ALERT reports and their consent, the reports are imported, decrypted and coded in a
workspace, and a release is made straight from it (records opened from the sealed store,
consent read from the decrypted consent documents, rows in memory), then verified with
the public key only. No file under the workspace, the output or the temporary directory
holds an incident id (outside the custody log, which names records by design) or a row
in clear; the ledger is sealed in the workspace, its hash in the custody log; a second
release differing by one record is refused, and so is a replaced ledger."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.backupctl.test_incident_cli import _alert, _consent, _send
from tests.support.journalist import FAST_HASHER
from vault.models import Role, Submission
from vault.services import export, reviewers
from workstation.custody_log import LOG_NAME, read_log
from workstation.observatory.release_ledger import LEDGER_NAME

WS_PASSPHRASE = "workstation key passphrase for releases"
ROW_KEYS = ("incident_id", "victim_count", "consent_statistics", "date_end")


def _report(day: int, count: int) -> str:
    return _alert(
        reporter=["survivor"],
        violence=["rape"],
        when_date=[f"2024-03-{day:02d}"],
        region=["CD-SK"],
        victims_count=[str(count)],
        victims_sex=["female"],
        victims_age=["18-29"],
        perpetrators=["armed_group"],
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_release_made_from_a_workspace_leaves_no_row_in_clear(
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # Seven incidents in South Kivu in March 2024, on different days (no duplicates
    # linked): six sources consent to statistics, one does not; and an eighth, later.
    consenting = [_send(runtime, _report(day, 1 + day % 2), _consent("yes")) for day in range(1, 7)]
    refusing = _send(runtime, _report(20, 3), _consent("no"))
    late = _send(runtime, _report(25, 1), _consent("yes"))
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst9", Role.ANALYST, hasher=FAST_HASHER)
        uuids = list(dict.fromkeys(s.source.uuid for s in db.scalars(select(Submission))))
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as handle:
            export.build_export(db, runtime.store, analyst, uuids, handle)

    ws, home = tmp_path / "ws", submission_key[1]
    key_pass, sub_pass = tmp_path / "ws-pass", tmp_path / "sub-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    sub_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-r"]
    sealed = ["--home", str(home), "--passphrase-file", str(sub_pass), *common]

    def run(*args: str, ok: bool = True) -> Result:
        result = CliRunner().invoke(main, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result

    run("custody", "init", str(ws), *common)
    pem = tmp_path / "receipt.pem"
    pem.write_text(runtime.receipt_key.verify_key.pem())
    fpr = runtime.receipt_key.fingerprint
    run("custody", "trust", str(ws), str(pem), "--fingerprint", fpr, *common)
    run("custody", "import", str(ws), str(bundle), *common)
    items = sorted(p.parent.name for p in (ws / "evidence").glob("*/item.json"))
    run("custody", "decrypt", str(ws), *items, "--home", str(home), "--passphrase-file",
        str(sub_pass), *common)  # fmt: skip
    first = {}
    for item in items:
        meta = json.loads((ws / "evidence" / item / "item.json").read_text())
        if Path(meta["path"]).name.startswith("1-"):
            first[meta["source_uuid"]] = item
    record_ids = []
    for source in [*consenting, refusing]:
        added = run("workstation", "incident", "add", str(ws), "--from", first[source],
                    "--yes", *sealed)  # fmt: skip
        record_ids.append(added.output.strip().splitlines()[-1].split()[-1])

    def make(out: Path, *extra: str, ok: bool = True) -> Result:
        return run(
            "workstation", "release", "make", "--workspace", str(ws), *sealed,
            "--out", str(out), "--dims", "period,region,act", "--from", "2024-01",
            "--to", "2024-06", "--country", "CD", *extra, ok=ok,
        )  # fmt: skip

    # Both sources of rows at once, or a plaintext ledger with a workspace: refused.
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text("")
    assert "not both" in make(tmp_path / "x", "--rows", str(rows_file), ok=False).output
    ledger_file = tmp_path / "ledger.json"
    assert "sealed" in make(tmp_path / "x", "--ledger", str(ledger_file), ok=False).output

    out = tmp_path / "release"
    made = make(out)
    assert "records (incidents) behind it: 6" in made.output  # the refusing source: none
    (document,) = out.glob("release-*[0-9a-f].json")
    stem = document.name.removesuffix(".json")
    csv_lines = (out / f"{stem}.csv").read_text().splitlines()
    # South Kivu, March 2024, rape: 6 incidents, 1+2+1+2+1+2 victims, shown.
    assert "2024-03,CD-SK,rape,9," in csv_lines
    verified = run("workstation", "release", "verify", str(document), "--key",
                   str(out / "signing-key.asc"))  # fmt: skip
    assert "good signature" in verified.output
    assert "records (incidents) behind it: 6" in verified.output

    # The ledger: sealed in the workspace, its hash in the custody log with the release.
    ledger = ws / "incidents" / LEDGER_NAME
    assert ledger.exists() and ledger.stat().st_mode & 0o777 == 0o600
    logged = [r.body for r in read_log(ws / LOG_NAME) if r.body["action"] == "release-made"]
    assert [e["details"]["release"] for e in logged] == [json.loads(document.read_bytes())["id"]]
    assert logged[0]["details"]["records"] == 6

    # One more incident coded, and the same table again: singled out by difference.
    added = run("workstation", "incident", "add", str(ws), "--from", first[late],
                "--yes", *sealed)  # fmt: skip
    record_ids.append(added.output.strip().splitlines()[-1].split()[-1])
    refused = make(tmp_path / "second", ok=False)
    assert "singled out by difference" in refused.output
    # With noise, allowed (the budget recorded in the sealed ledger).
    noisy = make(tmp_path / "noisy", "--epsilon", "1")
    assert "epsilon 1.0" in noisy.output
    assert len([r for r in read_log(ws / LOG_NAME) if r.body["action"] == "release-made"]) == 2

    # Nothing in clear: no file holds a record id (the custody log names records by
    # design, nothing else of them) or a row's fields; the tmp dir used holds nothing.
    assert len(record_ids) == 8
    log_path = ws / LOG_NAME
    scanned = 0
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        data = path.read_bytes()
        scanned += 1
        for key in ROW_KEYS:
            assert f'"{key}"'.encode() not in data, (path, key)
        if path != log_path:
            for record_id in record_ids:
                assert record_id.encode() not in data, (path, record_id)
    assert scanned > 20
    assert not [p for p in scratch.rglob("*") if p.is_file()]

    # The custody log, with its release entries, still verifies.
    assert "VERIFIED" in run("custody", "log", str(ws)).output

    # A ledger rolled back (or replaced) is refused: it would let a difference through.
    ledger.write_bytes(ledger.read_bytes() + b"\0")
    refused = make(tmp_path / "third", "--epsilon", "0.5", ok=False)
    assert "not the ledger the custody log names" in refused.output
    ledger.unlink()
    assert "missing" in make(tmp_path / "third", "--epsilon", "0.5", ok=False).output
