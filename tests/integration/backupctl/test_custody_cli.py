"""The chain of custody through `backupctl custody`, across a submission-key rotation:
items sealed to the old and to the new key are imported, decrypted and verified; each
source's consent to court is read from their consent document, shown as a consent
record (with its check code) and required for the judicial file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime, build_runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key, load_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from vault import codenames, reports
from vault.consent_record import Answer, check_code, purposes
from vault.models import Role, Submission
from vault.services import export, reviewers, sources
from workstation.bundle import BundleRefusedError, import_bundle
from workstation.custody_log import Workspace

NEW_PASSPHRASE = "the rotated submission key passphrase"
WS_PASSPHRASE = "workstation key passphrase for tests"


def _run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


COURT_ONLY = reports.dumps(reports.consent_from_form({"consent_court": ["yes"]}))


def _submit(runtime: Runtime, message: str, *, court_consent: bool = False) -> None:
    """A source sends a message (then, if asked, consents to use in court)."""
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        for text in (message, COURT_ONLY) if court_consent else (message,):
            sources.submit(db, runtime.store, source, runtime.submission_fingerprint, text, [])


def test_custody_cli_across_a_key_rotation(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    # The workstation keeps the old secret key and gains a new one.
    home = tmp_path / "gnupg"
    shutil.copytree(submission_key[1], home, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    new_key = generate_submission_key(home, NEW_PASSPHRASE, name="BackUp rotated key")
    _submit(runtime, "sealed to the old key", court_consent=True)
    load_submission_key(runtime.config.instance_dir, runtime.keyring, new_key.public_armored)
    rotated = build_runtime(runtime.config, redis=runtime.redis)  # a restarted server
    assert rotated.submission_fingerprint == new_key.fingerprint
    _submit(rotated, "sealed to the new key", court_consent=True)

    with rotated.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst9", Role.ANALYST, hasher=FAST_HASHER)
        source_uuids = [s.source.uuid for s in db.scalars(select(Submission))]
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as out:
            summary = export.build_export(db, rotated.store, analyst, source_uuids, out)
    assert summary.items == 4
    rotated.engine.dispose()

    instance = str(runtime.config.instance_dir)
    env_db = {
        "DATABASE_URL": runtime.config.database_url,
        "REDIS_URL": runtime.config.redis_url or "",
    }
    pub = tmp_path / "receipt.pem"
    shown = CliRunner(env=env_db).invoke(
        main, ["--instance", instance, "custody", "receipt-key", "--export", str(pub)]
    )
    assert shown.exit_code == 0, shown.output
    fingerprint = runtime.receipt_key.fingerprint
    assert shown.output.splitlines()[0].replace(" ", "") == fingerprint
    checked = CliRunner(env=env_db).invoke(main, ["--instance", instance, "custody", "verify-log"])
    assert checked.exit_code == 0 and "VERIFIED: 4 receipts" in checked.output, checked.output

    ws, key_pass = tmp_path / "ws", tmp_path / "ws-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    old_pass, new_pass = tmp_path / "old", tmp_path / "new"
    old_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    new_pass.write_text(NEW_PASSPHRASE + "\n")
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-b"]
    assert _run("custody", "init", str(ws), *common).exit_code == 0
    wrong = _run("custody", "trust", str(ws), str(pub), "--fingerprint", "AB" * 32, *common)
    assert wrong.exit_code != 0 and "not trusted" in wrong.output
    assert (
        _run("custody", "trust", str(ws), str(pub), "--fingerprint", fingerprint, *common).exit_code
        == 0
    )
    imported = _run("custody", "import", str(ws), str(bundle), *common)
    assert imported.exit_code == 0 and "4 new item(s)" in imported.output, imported.output
    items = [
        line.split()[2] for line in imported.output.splitlines() if line.startswith("imported")
    ]
    decrypted = _run(
        "custody",
        "decrypt",
        str(ws),
        *items,
        "--home",
        str(home),
        "--passphrase-file",
        str(old_pass),
        "--passphrase-file",
        str(new_pass),
        *common,
    )
    assert decrypted.exit_code == 0, decrypted.output
    texts = sorted(p.read_text() for p in (ws / "originals").rglob("*.txt"))
    assert texts == sorted(
        [COURT_ONLY, COURT_ONLY, "sealed to the new key", "sealed to the old key"]
    )

    shown = _run("custody", "consent", str(ws), *common)
    assert shown.exit_code == 0, shown.output
    court_only = {p: Answer.YES if p == "court" else Answer.UNKNOWN for p in purposes()}
    for name in [line.split(": ", 1)[1] for line in shown.output.splitlines() if "record:" in line]:
        assert f"check code: {check_code(name, court_only)}" in shown.output
    assert shown.output.count("court: yes") == 2

    built = _run("custody", "judicial", str(ws), *items, "--title", "Case 7", *common)
    assert built.exit_code == 0, built.output
    judicial = Path(built.output.splitlines()[0])
    ws_fpr = json.loads((ws / "custody-log.jsonl").read_text().splitlines()[0])["body"]["key"]
    verdict = _run(
        "custody",
        "verify",
        str(judicial),
        "--workstation-key",
        ws_fpr,
        "--receipt-key",
        fingerprint,
    )
    assert verdict.exit_code == 0 and verdict.output.startswith("VERDICT: VERIFIED"), verdict.output
    log = _run("custody", "log", str(ws), "--workstation-key", ws_fpr)
    assert log.exit_code == 0 and "VERIFIED" in log.output

    # An edited custody log entry: the workspace refuses to work, `log` names the line.
    lines = (ws / "custody-log.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace("analyst-b", "analyst-c")
    (ws / "custody-log.jsonl").write_text("\n".join(lines) + "\n")
    tampered = CliRunner().invoke(main, ["custody", "log", str(ws)])
    assert tampered.exit_code != 0 and "record #3 (seq 2): bad signature" in tampered.output
    refused = CliRunner().invoke(main, ["custody", "import", str(ws), str(bundle), *common])
    assert refused.exit_code != 0 and "the custody log is damaged" in refused.output
    kill_agent(home)


def test_receipt_key_rotation_keeps_the_chain_verifiable(runtime: Runtime, tmp_path: Path) -> None:
    _submit(runtime, "before the rotation")
    old_fpr = runtime.receipt_key.fingerprint
    instance = str(runtime.config.instance_dir)
    env = {"DATABASE_URL": runtime.config.database_url, "REDIS_URL": runtime.config.redis_url or ""}
    cli = CliRunner(env=env)
    rotated = cli.invoke(main, ["--instance", instance, "custody", "rotate-receipt-key"])
    assert rotated.exit_code == 0, rotated.output
    restarted = build_runtime(runtime.config, redis=runtime.redis)
    assert restarted.receipt_key.fingerprint != old_fpr
    _submit(restarted, "after the rotation")
    checked = cli.invoke(main, ["--instance", instance, "custody", "verify-log"])
    assert checked.exit_code == 0 and "VERIFIED: 3 receipts" in checked.output, checked.output

    # The workstation pinned the old key; a bundle spanning the rotation needs the new one.
    with restarted.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst8", Role.ANALYST, hasher=FAST_HASHER)
        source_uuids = [s.source.uuid for s in db.scalars(select(Submission))]
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as out:
            export.build_export(db, restarted.store, analyst, source_uuids, out)
    ws = Workspace.create(tmp_path / "ws", WS_PASSPHRASE, actor="analyst-b")
    ws.trust_receipt_key(runtime.receipt_key.verify_key.pem())
    with pytest.raises(BundleRefusedError, match=r"receipt-key.pem: receipt key .* not trusted"):
        import_bundle(ws, bundle)
    ws.trust_receipt_key(restarted.receipt_key.verify_key.pem())
    assert len(import_bundle(ws, bundle)) == 2

    # A process still signing with the retired key after the handover is caught.
    _submit(runtime, "signed by the retired key")
    stale = cli.invoke(main, ["--instance", instance, "custody", "verify-log"])
    assert stale.exit_code != 0 and "after it was rotated out" in stale.output, stale.output
    restarted.engine.dispose()
