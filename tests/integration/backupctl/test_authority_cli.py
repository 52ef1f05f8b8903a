"""A judicial file sealed to an authority, end to end with real gpg: the register
(refusing any key but the one whose whole fingerprint was typed), the seal (only to
that key, logged: what, when, by whom, to whom), the authority's side (its own secret
key, then public keys only), and the consent to court checked again at sealing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner, Result

from backupctl.cli import main
from composition.runtime import Runtime
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from vault import codenames, reports
from vault.models import Role, Source
from vault.services import export, reviewers, sources

WS_PASSPHRASE = "workstation key passphrase for tests"
AUTHORITY_PASSPHRASE = "the prosecutor's own key passphrase"
COURT = {
    answer: reports.dumps(reports.consent_from_form({"consent_court": [answer]}))
    for answer in ("yes", "no")
}


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _send(runtime: Runtime, source_uuid: str | None, *texts: str) -> str:
    with runtime.session() as db:
        if source_uuid is None:
            source, _ = sources.create_source(
                db, runtime.keyring, runtime.config, codenames.generate_codename()
            )
        else:
            source = db.query(Source).filter_by(uuid=source_uuid).one()
        for text in texts:
            sources.submit(db, runtime.store, source, runtime.submission_fingerprint, text, [])
        return source.uuid


def _export(runtime: Runtime, source_uuid: str, path: Path) -> Path:
    with runtime.session() as db:
        analyst = db.query(reviewers.Reviewer).filter_by(username="analyst3").one_or_none()
        if analyst is None:
            analyst, _ = reviewers.create_reviewer(db, "analyst3", Role.ANALYST, hasher=FAST_HASHER)
        with path.open("wb") as out:
            export.build_export(db, runtime.store, analyst, [source_uuid], out)
    return path


def _log(ws: Path) -> list[dict[str, object]]:
    lines = (ws / "custody-log.jsonl").read_text().splitlines()
    return [json.loads(line)["body"] for line in lines]


def test_judicial_file_sealed_to_a_registered_authority(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    # The authority's keypair, made on its side; WWoW receives the public half and,
    # out of band, its fingerprint.
    authority_home = tmp_path / "prosecutor"
    authority = generate_submission_key(
        authority_home, AUTHORITY_PASSPHRASE, name="Parquet de Gitega"
    )
    public = tmp_path / "prosecutor.asc"
    public.write_text(authority.public_armored)
    secret = tmp_path / "prosecutor-secret.asc"
    secret.write_text(
        GpgKeyring(authority_home, server=False).export_secret(
            authority.fingerprint, AUTHORITY_PASSPHRASE
        )
    )
    other = generate_submission_key(tmp_path / "other", "another key passphrase", name="Other")
    other_public = tmp_path / "other.asc"
    other_public.write_text(other.public_armored)

    source = _send(runtime, None, "what happened, for the court", COURT["yes"])
    bundle = _export(runtime, source, tmp_path / "export.zip")
    ws, key_pass, sub_pass = tmp_path / "ws", tmp_path / "ws-pass", tmp_path / "sub-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    sub_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    common = ["--key-passphrase-file", str(key_pass), "--actor", "legal-officer"]
    pem = tmp_path / "receipt.pem"
    pem.write_text(runtime.receipt_key.verify_key.pem())
    receipt_fpr = runtime.receipt_key.fingerprint
    assert _run("custody", "init", str(ws), *common).exit_code == 0
    trusted = _run("custody", "trust", str(ws), str(pem), "--fingerprint", receipt_fpr, *common)
    assert trusted.exit_code == 0, trusted.output
    imported = _run("custody", "import", str(ws), str(bundle), *common)
    assert imported.exit_code == 0, imported.output
    items = [line.split()[2] for line in imported.output.splitlines() if line.startswith("imp")]
    home = ["--home", str(submission_key[1]), "--passphrase-file", str(sub_pass)]
    decrypted = _run("custody", "decrypt", str(ws), *items, *home, *common)
    assert decrypted.exit_code == 0, decrypted.output
    built = _run("custody", "judicial", str(ws), *items, "--title", "Case 3", *common)
    assert built.exit_code == 0, built.output
    judicial = Path(built.output.splitlines()[0])

    # The register refuses anything but exactly the key whose whole fingerprint is given.
    add = ["custody", "authority", "add", str(ws)]
    named = ["--name", "Parquet de Gitega", "--jurisdiction", "Burundi, Gitega", *common]
    refusals = {
        "not the one given": (public, other.fingerprint),
        "whole fingerprint": (public, authority.fingerprint[:16]),
        "secret key": (secret, authority.fingerprint),
    }
    for words, (key_file, typed) in refusals.items():
        refused = _run(*add, str(key_file), "--fingerprint", typed, *named)
        assert refused.exit_code == 1 and words in refused.output, refused.output
    assert (
        "no authority registered" in _run("custody", "authority", "list", str(ws), *common).output
    )
    grouped = " ".join(authority.fingerprint[i : i + 4] for i in range(0, 40, 4)).lower()
    added = _run(*add, str(public), "--fingerprint", grouped, *named)
    assert added.exit_code == 0, added.output
    assert _run(*add, str(public), "--fingerprint", authority.fingerprint, *named).exit_code == 1
    listed = _run("custody", "authority", "list", str(ws), *common).output
    assert f"{authority.fingerprint}  Parquet de Gitega (Burundi, Gitega)" in listed
    assert "by legal-officer" in listed

    # Sealed to the authority only.
    short = authority.fingerprint[:16]
    sealed = _run("custody", "seal", str(ws), str(judicial), "--authority", short, *common)
    assert sealed.exit_code == 0, sealed.output
    sealed_path = Path(sealed.output.splitlines()[0])
    ws_ring = GpgKeyring(ws / "authorities" / "gnupg", server=False)
    recipients = {str(k).upper() for k in ws_ring.gpg.get_recipients_file(str(sealed_path))}
    assert recipients and recipients <= ws_ring.key_ids(authority.fingerprint)
    assert judicial.read_bytes() not in sealed_path.read_bytes()

    # The authority's side: its own secret key, then public keys only.
    received = tmp_path / "received.zip"
    GpgKeyring(authority_home, server=False).decrypt_file(
        sealed_path, AUTHORITY_PASSPHRASE, received
    )
    assert received.read_bytes() == judicial.read_bytes()
    ws_fpr = str(_log(ws)[0]["key"])
    verdict = _run(
        "custody", "verify", str(received), "--workstation-key", ws_fpr,
        "--receipt-key", receipt_fpr,
    )  # fmt: skip
    assert verdict.exit_code == 0 and verdict.output.startswith("VERDICT: VERIFIED"), verdict.output
    # Down to the plaintext: each original re-derived from the ciphertext the server
    # received, with the session key in the file and no secret key.
    assert verdict.output.count("the original is the plaintext of the ciphertext received") == 2

    # What was sent, when, by whom and to whom: in the signed custody log.
    sent = [e for e in _log(ws) if e["action"] == "judicial-sent"]
    assert len(sent) == 1
    details = sent[0]["details"]
    assert isinstance(details, dict)
    assert details["authority"] == authority.fingerprint
    assert details["authority_name"] == "Parquet de Gitega"
    assert details["judicial_sha256"] == hashlib.sha256(received.read_bytes()).hexdigest()
    assert details["sealed_sha256"] == hashlib.sha256(sealed_path.read_bytes()).hexdigest()
    sent_items = details["items"]
    assert isinstance(sent_items, list) and len(sent_items) == len(items) == 2
    assert all(any(str(full).startswith(short_id) for full in sent_items) for short_id in items)
    assert sent[0]["actor"] == "legal-officer" and sent[0]["at"]
    logged = _run("custody", "log", str(ws), "--workstation-key", ws_fpr)
    assert logged.exit_code == 0 and "judicial-sent" in logged.output

    # A damaged (or altered) judicial file is not sealed: it is verified first.
    damaged = tmp_path / "damaged.zip"
    data = bytearray(judicial.read_bytes())
    data[len(data) // 3] ^= 0xFF
    damaged.write_bytes(bytes(data))
    refused = _run("custody", "seal", str(ws), str(damaged), "--authority", short, *common)
    assert refused.exit_code == 1 and "does not verify" in refused.output, refused.output

    # The source withdraws consent to court: the same file can no longer be sealed.
    _send(runtime, source, COURT["no"])
    again = _run(
        "custody", "import", str(ws), str(_export(runtime, source, tmp_path / "e2.zip")), *common
    )
    assert again.exit_code == 0 and "1 new item(s)" in again.output, again.output
    newest = [line.split()[2] for line in again.output.splitlines() if line.startswith("imp")]
    assert _run("custody", "decrypt", str(ws), *newest, *home, *common).exit_code == 0
    other_dir = tmp_path / "second"
    refused = _run(
        "custody", "seal", str(ws), str(judicial), "--authority", short, "--out",
        str(other_dir), *common,
    )  # fmt: skip
    assert refused.exit_code == 1 and "no consent to court" in refused.output, refused.output
    assert not other_dir.exists() or not any(other_dir.iterdir())
    assert _log(ws)[-1]["action"] == "consent-refused"
    assert len([e for e in _log(ws) if e["action"] == "judicial-sent"]) == 1

    # Removed from the register: nothing can be sealed to it any more.
    removed = _run("custody", "authority", "remove", str(ws), short, *common)
    assert removed.exit_code == 0, removed.output
    gone = _run("custody", "seal", str(ws), str(judicial), "--authority", short, *common)
    assert gone.exit_code == 1 and "no registered authority" in gone.output, gone.output
    for path in (authority_home, tmp_path / "other", ws / "authorities" / "gnupg"):
        kill_agent(path)
