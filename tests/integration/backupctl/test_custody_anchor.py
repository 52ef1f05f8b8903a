"""Trusted time end to end: a real local TSA (`openssl ts`) anchors the custody and audit
chains through `backupctl custody anchor`; the export carries the tokens and the TSA
certificate; the workstation checks them on import; the judicial file carries them and
`backupctl custody verify` states when the TSA saw each receipt. A token, a chain or a
TSA certificate that was tampered with fails with a message saying which."""

from __future__ import annotations

import base64
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from backupctl.cli import main
from composition.runtime import Runtime
from keys.gpg import kill_agent
from keys.lifecycle import GeneratedKey
from keys.timestamps import certificate_fingerprint, load_certificates
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.backupctl.test_custody_cli import WS_PASSPHRASE, _submit
from tests.support.journalist import FAST_HASHER
from tests.support.tsa import LocalTsa, local_tsa, make_tsa_ca
from vault.models import ChainAnchor, Role, Submission
from vault.services import export, reviewers
from workstation.bundle import BundleRefusedError, import_bundle, imported_items
from workstation.custody_log import Workspace


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    with local_tsa(tmp_path / "tsa") as running:
        yield running


def _configure(runtime: Runtime, tsa: LocalTsa, env: dict[str, str]) -> dict[str, str]:
    """What an admin does: the TSA's certificate in the instance, its URL in the env."""
    certs = runtime.config.instance_dir / "tsa"
    certs.mkdir(exist_ok=True)
    shutil.copy(tsa.files.ca_cert, certs / "local.pem")
    return {**env, "BACKUP_TSA_URLS": f"local={tsa.url}"}


def _cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(main, list(args))


def _export(runtime: Runtime, out: Path, with_certs: bool = True) -> None:
    certificates = {"local": (runtime.config.instance_dir / "tsa" / "local.pem").read_bytes()}
    with runtime.session() as db:
        analyst = reviewers.create_reviewer(
            db, f"analyst{len(list(out.parent.iterdir()))}", Role.ANALYST, hasher=FAST_HASHER
        )[0]
        source_uuids = [s.source.uuid for s in db.scalars(select(Submission))]
        with out.open("wb") as handle:
            export.build_export(
                db,
                runtime.store,
                analyst,
                source_uuids,
                handle,
                tsa_certificates=certificates if with_certs else None,
            )


def _workspace(runtime: Runtime, tmp_path: Path) -> tuple[Path, list[str]]:
    ws, key_pass = tmp_path / "ws", tmp_path / "ws-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    pub = tmp_path / "receipt.pem"
    pub.write_text(runtime.receipt_key.verify_key.pem())
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-b"]
    assert CliRunner().invoke(main, ["custody", "init", str(ws), *common]).exit_code == 0
    fpr = runtime.receipt_key.fingerprint
    trusted = CliRunner().invoke(
        main, ["custody", "trust", str(ws), str(pub), "--fingerprint", fpr, *common]
    )
    assert trusted.exit_code == 0, trusted.output
    return ws, common


def test_anchored_custody_reaches_the_judicial_file(
    runtime: Runtime,
    cli_env: dict[str, str],
    submission_key: tuple[GeneratedKey, Path],
    tsa: LocalTsa,
    tmp_path: Path,
) -> None:
    env = _configure(runtime, tsa, cli_env)
    # Before any submission: both chains empty, nothing asked of the TSA.
    empty = _cli(env, "custody", "anchor")
    assert empty.exit_code == 0 and "nothing to anchor yet" in empty.output, empty.output
    assert tsa.requests == 0

    # The TSA is down when a source sends: the submission is stored all the same.
    tsa.fail = True
    _submit(runtime, "sent while the TSA is down", court_consent=True)
    failed = _cli(env, "custody", "anchor")
    assert failed.exit_code == 1 and "local FAILED: local: answered HTTP 503" in failed.output
    tsa.fail = False
    anchored = _cli(env, "custody", "anchor")
    assert anchored.exit_code == 0, anchored.output
    assert "custody chain at 1: anchored by local" in anchored.output
    again = _cli(env, "custody", "anchor")
    assert "custody chain at 1: already anchored by local" in again.output

    # A later submission, not yet anchored, is exported with the anchored ones.
    _submit(runtime, "sent after the anchor", court_consent=False)
    bundle = tmp_path / "exports" / "export.zip"
    bundle.parent.mkdir()
    _export(runtime, bundle)
    with zipfile.ZipFile(bundle) as opened:
        assert {"anchors.jsonl", "tsa/local.pem"} <= set(opened.namelist())
    # The export was audited: now both chains have a head to anchor.
    later = _cli(env, "custody", "anchor")
    assert "custody chain at 2: anchored by local" in later.output, later.output
    assert "audit chain at" in later.output and later.exit_code == 0
    with runtime.session() as db:
        stored = {(a.chain, a.seq) for a in db.scalars(select(ChainAnchor))}
    assert {("custody", 1), ("custody", 2)} <= stored and any(c == "audit" for c, _ in stored)
    checked = _cli(env, "custody", "verify-log")
    assert checked.exit_code == 0, checked.output
    assert "custody chain: 2 time-stamp anchor(s) verified" in checked.output
    audit = _cli(env, "audit", "verify")
    assert audit.exit_code == 0 and "audit chain: 1 time-stamp anchor(s) verified" in audit.output
    # Without the TSA configured, its anchors are said not to be checked, not failed.
    unconfigured = _cli(cli_env, "custody", "verify-log")
    assert unconfigured.exit_code == 0, unconfigured.output
    assert "2 by a TSA no longer configured not checked" in unconfigured.output
    # A stored token altered in the database: verify-log names it.
    with runtime.session() as db:
        row = db.scalars(select(ChainAnchor).where(ChainAnchor.seq == 2)).one()
        good_token = row.token
        row.token = good_token[:-20] + bytes([good_token[-20] ^ 1]) + good_token[-19:]
        db.commit()
    broken = _cli(env, "custody", "verify-log")
    assert broken.exit_code != 0
    assert "custody chain anchor at 2 by local: the token's signature does not verify" in (
        broken.output
    )
    with runtime.session() as db:
        db.scalars(select(ChainAnchor).where(ChainAnchor.seq == 2)).one().token = good_token
        db.commit()

    ws, common = _workspace(runtime, tmp_path)
    imported = CliRunner().invoke(main, ["custody", "import", str(ws), str(bundle), *common])
    assert imported.exit_code == 0, imported.output
    # The first source's two items (receipts 0 and 1, both before the anchor at 1).
    opened = Workspace.open(ws, WS_PASSPHRASE, "analyst-b")
    items = [item.uuid for item in imported_items(opened) if item.receipt_seq <= 1]
    home, phrase = submission_key[1], tmp_path / "sub-pass"
    phrase.write_text(SUBMISSION_PASSPHRASE + "\n")
    decrypt = ["--home", str(home), "--passphrase-file", str(phrase), *common]
    done = CliRunner().invoke(main, ["custody", "decrypt", str(ws), *items, *decrypt])
    assert done.exit_code == 0, done.output
    built = CliRunner().invoke(
        main, ["custody", "judicial", str(ws), *items, "--title", "Case 9", *common]
    )
    assert built.exit_code == 0, built.output
    judicial = Path(built.output.splitlines()[0])

    with zipfile.ZipFile(judicial) as opened:
        listed = json.loads(opened.read("JUDICIAL-MANIFEST.json"))
        assert any(name.startswith("keys/tsa-local-") for name in opened.namelist())
    # The summary for a clerk names the first anchor of each item.
    assert [(i["first_anchor"]["tsa"], i["first_anchor"]["seq"]) for i in listed["items"]] == [
        ("local", 1),
        ("local", 1),
    ]
    tsa_fpr = certificate_fingerprint(load_certificates(tsa.files.ca_cert.read_bytes())[0])
    verdict = CliRunner().invoke(main, ["custody", "verify", str(judicial), "--tsa-cert", tsa_fpr])
    assert verdict.exit_code == 0 and verdict.output.startswith("VERDICT: VERIFIED"), verdict.output
    assert f"TSA certificate local: {tsa_fpr}" in verdict.output
    lines = [line for line in verdict.output.splitlines() if "time-stamped by local at" in line]
    assert len(lines) == 2 and all("(chain position 1)" in line for line in lines), verdict.output
    assert all(" after the receipt" in line or "clocks differ" in line for line in lines)
    other = CliRunner().invoke(main, ["custody", "verify", str(judicial), "--tsa-cert", "ab" * 32])
    assert other.exit_code == 1 and "not an expected TSA certificate" in other.output

    # Tampering: a token, the chain at the anchored position, the TSA certificate. The
    # judicial file is rebuilt from a workspace whose kept anchors were altered, so the
    # workstation's signature holds and the anchor check alone must catch it.
    kept = ws / "evidence" / "segments"
    sidecar = next(kept.glob("*.anchors.json"))
    original = sidecar.read_text()

    def rebuilt(change: dict[str, object]) -> str:
        sidecar.chmod(0o600)
        sidecar.write_text(json.dumps({**json.loads(original), **change}))
        made = CliRunner().invoke(
            main, ["custody", "judicial", str(ws), *items, "--title", "Case 9", *common]
        )
        assert made.exit_code == 0, made.output
        result = CliRunner().invoke(main, ["custody", "verify", made.output.splitlines()[0]])
        assert result.exit_code == 1 and "VERDICT: NOT VERIFIED" in result.output
        return result.output

    anchors = json.loads(original)["anchors"]
    token = bytearray(base64.b64decode(anchors[0]["token"]))
    token[-20] ^= 0x01
    bad_token = [{**anchors[0], "token": base64.b64encode(bytes(token)).decode()}]
    assert "the token's signature does not verify (the token was altered)" in rebuilt(
        {"anchors": bad_token}
    )
    moved = [{**anchors[0], "seq": 2}]
    assert "time-stamp of chain position 2 by local: the chain there is not what was" in rebuilt(
        {"anchors": moved}
    )
    stranger = make_tsa_ca(tmp_path / "stranger", "Stranger TSA")
    swapped = {"local": stranger.ca_cert.read_text()}
    assert "not signed under the given TSA certificate" in rebuilt({"tsa_certificates": swapped})
    kill_agent(home)


def test_a_tampered_anchor_refuses_the_export_bundle(
    runtime: Runtime, cli_env: dict[str, str], tsa: LocalTsa, tmp_path: Path
) -> None:
    env = _configure(runtime, tsa, cli_env)
    _submit(runtime, "one message")
    assert _cli(env, "custody", "anchor").exit_code == 0
    bundle = tmp_path / "exports" / "export.zip"
    bundle.parent.mkdir()
    _export(runtime, bundle)
    ws, _ = _workspace(runtime, tmp_path)
    # The TSA certificate swapped for another in the bundle: named, nothing imported.
    forged = tmp_path / "forged.zip"
    stranger = make_tsa_ca(tmp_path / "stranger", "Stranger TSA")
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(forged, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "tsa/local.pem":
                data = stranger.ca_cert.read_bytes()
            out.writestr(info, data)
    workspace = Workspace.open(ws, WS_PASSPHRASE, "analyst-b")
    with pytest.raises(BundleRefusedError) as refused:
        import_bundle(workspace, forged)
    problems = "\n".join(refused.value.problems)
    assert "tsa/local.pem: not the file the signed MANIFEST.json lists (altered)" in problems
    assert "not signed under the given TSA certificate" in problems
    assert not (ws / "evidence" / "segments").exists() or not list(
        (ws / "evidence" / "segments").iterdir()
    )
    # Without TSA certificates the export carries no anchors, and imports as before.
    plain = tmp_path / "exports" / "plain.zip"
    _export(runtime, plain, with_certs=False)
    assert len(import_bundle(workspace, plain)) == 1


def test_the_segment_runs_on_to_the_first_anchor_after_the_last_item(
    runtime: Runtime, cli_env: dict[str, str], tsa: LocalTsa, tmp_path: Path
) -> None:
    env = _configure(runtime, tsa, cli_env)
    _submit(runtime, "the exported one")
    _submit(runtime, "another source's, later")
    assert _cli(env, "custody", "anchor").exit_code == 0
    with runtime.session() as db:
        first = db.scalars(select(Submission).order_by(Submission.id)).first()
        assert first is not None
        analyst = reviewers.create_reviewer(db, "analyst1", Role.ANALYST, hasher=FAST_HASHER)[0]
        bundle = tmp_path / "one.zip"
        with bundle.open("wb") as handle:
            summary = export.build_export(
                db,
                runtime.store,
                analyst,
                [first.source.uuid],
                handle,
                tsa_certificates={"local": tsa.files.ca_cert.read_bytes()},
            )
    assert summary.items == 1 and (summary.first_seq, summary.last_seq) == (0, 0)
    with zipfile.ZipFile(bundle) as opened:
        receipts = opened.read("receipts.jsonl").decode().splitlines()
        stamps = opened.read("anchors.jsonl").decode().splitlines()
        manifest = json.loads(opened.read("MANIFEST.json"))
    assert [json.loads(line)["body"]["seq"] for line in receipts] == [0, 1]
    assert [json.loads(line)["seq"] for line in stamps] == [1]
    assert manifest["chain"] == {"first_seq": 0, "last_seq": 1}
    ws, _ = _workspace(runtime, tmp_path)
    workspace = Workspace.open(ws, WS_PASSPHRASE, "analyst-b")
    assert len(import_bundle(workspace, bundle)) == 1
    assert len(list((ws / "evidence" / "segments").glob("*.anchors.json"))) == 1
