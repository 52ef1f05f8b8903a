"""Between the server and the workstation, names and pages keep the link to the source
and the time received, and ids are typed short (real gpg, mat2, SQLite, PostgreSQL):

an ASSIST request with a photo is exported, imported and decrypted through
`backupctl custody` with 8-character item ids; the report page says when the server
received it (from the signed receipt), when the 72 hours end, and lists the photo,
first as not decrypted, then under its decrypted name, which carries the designation
and the submission number. Fingerprints are checked from 16 characters, not fewer."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from backupctl.cli import main
from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import FAST_HASHER
from vault import codenames, reports
from vault.models import Role
from vault.services import export, reviewers, sources
from vault.store import DocumentSink

WS_PASSPHRASE = "workstation key passphrase for tests"
PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes all the same" * 50


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _submit_assist(runtime: Runtime) -> tuple[str, str]:
    """An ASSIST request (violence in the last 72 hours) sent with a photo."""
    document = reports.assist_from_form({"needs": ["medical"], "recent": ["yes"]})
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sink = DocumentSink(
            runtime.store.begin_unassigned([runtime.submission_fingerprint]), "../../x/ifoto.jpg"
        )
        sink.write(PHOTO)
        sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, reports.dumps(document),
            [sink],
        )  # fmt: skip
        # A later, separate message: not an attachment of the request.
        sources.submit(db, runtime.store, source, runtime.submission_fingerprint, "later", [])
        return source.uuid, source.slug


def test_report_page_names_attachments_and_time_received(
    runtime: Runtime, submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    source_uuid, slug = _submit_assist(runtime)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst7", Role.ANALYST, hasher=FAST_HASHER)
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as out:
            export.build_export(db, runtime.store, analyst, [source_uuid], out)
    pub = tmp_path / "receipt.pem"
    pub.write_text(runtime.receipt_key.verify_key.pem())
    fingerprint = runtime.receipt_key.fingerprint

    ws, key_pass, sub_pass = tmp_path / "ws", tmp_path / "ws-pass", tmp_path / "sub-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    sub_pass.write_text(SUBMISSION_PASSPHRASE + "\n")
    home = tmp_path / "gnupg"
    shutil.copytree(submission_key[1], home, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-d"]
    assert _run("custody", "init", str(ws), *common).exit_code == 0

    # A published fingerprint is checked from 16 characters (grouped as displayed).
    short = _run("custody", "trust", str(ws), str(pub), "--fingerprint", fingerprint[:8], *common)
    assert short.exit_code != 0 and "at least 16 characters" in short.output
    grouped = " ".join(fingerprint[i : i + 4] for i in range(0, 16, 4)).lower()
    trusted = _run("custody", "trust", str(ws), str(pub), "--fingerprint", grouped, *common)
    assert trusted.exit_code == 0, trusted.output
    assert fingerprint in trusted.output.replace(" ", "")

    imported = _run("custody", "import", str(ws), str(bundle), *common)
    assert imported.exit_code == 0, imported.output
    # imported <kind> <short id> <stored name> (<kind>, received … UTC)
    rows = [line.split() for line in imported.output.splitlines() if line.startswith("imported")]
    ids = {row[3]: row[2] for row in rows}
    assert all(len(short_id) == 8 for short_id in ids.values())
    assert set(ids) == {f"1-{slug}-msg.gpg", f"2-{slug}-doc.gz.gpg", f"3-{slug}-msg.gpg"}
    listed = _run("custody", "items", str(ws), *common)
    assert listed.exit_code == 0 and listed.output.count("not decrypted") == 3, listed.output

    def decrypt(*typed: str) -> Result:
        args = ["--home", str(home), "--passphrase-file", str(sub_pass), *common]
        return _run("custody", "decrypt", str(ws), *typed, *args)

    unknown = decrypt("00000000")
    assert unknown.exit_code != 0 and "00000000: no imported item id starts with this" in (
        unknown.output
    )
    assert decrypt("abc").exit_code != 0 and "at least 8 characters" in decrypt("abc").output

    request = decrypt(ids[f"1-{slug}-msg.gpg"])
    assert request.exit_code == 0, request.output
    page_path = ws / "reports" / f"1-{slug}-report.html"
    assert f"report page: {page_path}" in request.output
    page = page_path.read_text()
    receipt = json.loads(
        (ws / "evidence").joinpath(_full_id(ws, ids[f"1-{slug}-msg.gpg"]), "item.json").read_text()
    )["receipt"]["body"]
    received = dt.datetime.fromisoformat(receipt["received_at"].replace("Z", "+00:00"))
    assert f"Received by the server: <strong>{received:%Y-%m-%d %H:%M:%S} UTC</strong>" in page
    assert f"signed custody receipt no. {receipt['seq']}" in page
    end = received + dt.timedelta(hours=72)
    assert f"the 72 hours end <strong>before {end:%Y-%m-%d %H:%M} UTC</strong>" in page
    photo_id = ids[f"2-{slug}-doc.gz.gpg"]
    assert f"<code>2-{slug}-doc.gz.gpg</code> — item {photo_id}, not decrypted yet" in page
    assert "3-" not in page.split("Files sent with it")[1]  # the later message is not one

    photo = decrypt(photo_id)
    assert photo.exit_code == 0, photo.output
    page = page_path.read_text()
    assert f"<code>2-{slug}-doc-ifoto.jpg</code> — item {photo_id}, decrypted" in page
    [original] = (ws / "originals" / _full_id(ws, photo_id)).iterdir()
    assert original.name == f"2-{slug}-doc-ifoto.jpg" and original.read_bytes() == PHOTO

    # Judicial files and the log take the short forms too.
    ws_fpr = json.loads((ws / "custody-log.jsonl").read_text().splitlines()[0])["body"]["key"]
    log = _run("custody", "log", str(ws), "--workstation-key", ws_fpr[:16])
    assert log.exit_code == 0 and "VERIFIED" in log.output, log.output
    bad = _run("custody", "log", str(ws), "--workstation-key", "0" * 16)
    assert bad.exit_code != 0
    too_short = _run("custody", "log", str(ws), "--workstation-key", ws_fpr[:8])
    assert too_short.exit_code != 0 and "at least 16 characters" in too_short.output

    # Two items whose ids start alike: the short id is refused, both are listed.
    full = _full_id(ws, photo_id)
    twin = f"{full[:8]}-ffff-4fff-8fff-ffffffffffff"
    shutil.copytree(ws / "evidence" / full, ws / "evidence" / twin)
    ambiguous = _run("custody", "judicial", str(ws), photo_id, "--title", "Case 1", *common)
    assert ambiguous.exit_code != 0
    assert f"{photo_id}: ambiguous imported item id: 2 start with it" in ambiguous.output
    assert full in ambiguous.output and twin in ambiguous.output
    assert list((ws / "judicial").glob("*.zip")) == []


def _full_id(ws: Path, short_id: str) -> str:
    [found] = [p.name for p in (ws / "evidence").iterdir() if p.name.startswith(short_id)]
    return found


def test_items_are_listed_in_order_received(runtime: Runtime, tmp_path: Path) -> None:
    """`custody items` needs nothing decrypted: ids, names, kinds, times."""
    source_uuid, slug = _submit_assist(runtime)
    with runtime.session() as db:
        analyst, _ = reviewers.create_reviewer(db, "analyst6", Role.ANALYST, hasher=FAST_HASHER)
        bundle = tmp_path / "export.zip"
        with bundle.open("wb") as out:
            export.build_export(db, runtime.store, analyst, [source_uuid], out)
    pub = tmp_path / "receipt.pem"
    pub.write_text(runtime.receipt_key.verify_key.pem())
    key_pass = tmp_path / "ws-pass"
    key_pass.write_text(WS_PASSPHRASE + "\n")
    ws = tmp_path / "ws"
    common = ["--key-passphrase-file", str(key_pass), "--actor", "analyst-e"]
    assert _run("custody", "init", str(ws), *common).exit_code == 0
    fingerprint = runtime.receipt_key.fingerprint
    trust = _run("custody", "trust", str(ws), str(pub), "--fingerprint", fingerprint, *common)
    assert trust.exit_code == 0, trust.output
    assert _run("custody", "import", str(ws), str(bundle), *common).exit_code == 0
    listed = _run("custody", "items", str(ws), *common).output.splitlines()
    names = [line.split()[1] for line in listed]
    assert names == [f"1-{slug}-msg.gpg", f"2-{slug}-doc.gz.gpg", f"3-{slug}-msg.gpg"]
    assert all("received 20" in line and "not decrypted" in line for line in listed)
