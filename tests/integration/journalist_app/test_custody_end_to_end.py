"""Chain of custody end to end, with real gpg, mat2, SQLite and PostgreSQL:
submit -> export (reviewer interface) -> import -> decrypt -> judicial file -> verify.
Then every kind of tampering, each refused with a message naming what is wrong. A
judicial file is built only with the source's consent to use in court, read by the
workstation from their latest consent document."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from keys.lifecycle import GeneratedKey
from keys.receipts import SigningKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.journalist import csrf_token
from vault import codenames, reports
from vault.models import AuditEvent
from vault.services import replies, sources
from vault.store import DocumentSink
from workstation.bundle import BundleRefusedError, EvidenceItem, import_bundle
from workstation.consent import ConsentRefusedError
from workstation.custody_log import Workspace
from workstation.evidence import ManifestMismatchError, decrypt_item
from workstation.judicial import build_judicial, verify_judicial

EXIF_MARKER = "CAMERA-SERIAL-4471"
WS_PASSPHRASE = "workstation custody key passphrase"


def _jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = EXIF_MARKER  # Make
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _submit(runtime: Runtime, photo: bytes) -> str:
    with runtime.session() as db:
        source, _ = sources.create_source(
            db, runtime.keyring, runtime.config, codenames.generate_codename()
        )
        sink = DocumentSink(
            runtime.store.begin_unassigned([runtime.submission_fingerprint]), "ifoto.jpg"
        )
        sink.write(photo)
        sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, "ubuhamya", [sink]
        )
        replies.send_reply(
            db,
            runtime.store,
            runtime.keyring,
            source,
            None,
            "turakumva",
            runtime.submission_fingerprint,
        )
        return source.uuid


def _export(client: FlaskClient, source_uuid: str, path: Path) -> Path:
    token = csrf_token(client, f"/sources/{source_uuid}")
    response = client.post("/export", data={"csrf_token": token, "source": source_uuid})
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    path.write_bytes(response.get_data())
    return path


def _send_consent(runtime: Runtime, source_uuid: str, court: str) -> str:
    """The source's change of consent, sealed as the source app seals it."""
    document = reports.dumps(reports.consent_from_form({"consent_court": [court]}))
    with runtime.session() as db:
        source = sources.get_active_source(db, source_uuid)
        [message] = sources.submit(
            db, runtime.store, source, runtime.submission_fingerprint, document, []
        )
        return message.uuid


def _export_consent(
    runtime: Runtime, client: FlaskClient, source_uuid: str, court: str, path: Path
) -> Path:
    item = _send_consent(runtime, source_uuid, court)
    token = csrf_token(client, f"/sources/{source_uuid}")
    response = client.post(
        "/export", data={"csrf_token": token, "source": source_uuid, "item": item}
    )
    assert response.status_code == 200
    path.write_bytes(response.get_data())
    return path


def _with_court_consent(workspace: Workspace, home: Path) -> EvidenceItem:
    """Import and decrypt the consent bundle the `exported` fixture made beside it."""
    [item] = import_bundle(workspace, workspace.root.parent / "consent.zip")
    decrypt_item(workspace, item, home, [SUBMISSION_PASSPHRASE])
    return item


def _rewrite(src: Path, dst: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(src) as bundle:
        members = {name: bundle.read(name) for name in bundle.namelist()}
    edit(members)
    with zipfile.ZipFile(dst, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return dst


def _flip(data: bytes, at: int = -40) -> bytes:
    flipped = bytearray(data)
    flipped[at] ^= 0x01
    return bytes(flipped)


def _member(bundle: Path, suffix: str) -> str:
    with zipfile.ZipFile(bundle) as zf:
        return next(n for n in zf.namelist() if n.endswith(suffix))


@pytest.fixture
def exported(
    runtime: Runtime, analyst_client: FlaskClient, tmp_path: Path
) -> tuple[Path, Workspace]:
    source_uuid = _submit(runtime, _jpeg_with_exif())
    bundle = _export(analyst_client, source_uuid, tmp_path / "export.zip")
    _export_consent(runtime, analyst_client, source_uuid, "yes", tmp_path / "consent.zip")
    workspace = Workspace.create(tmp_path / "ws", WS_PASSPHRASE, actor="analyst-a")
    workspace.trust_receipt_key(runtime.receipt_key.verify_key.pem())
    return bundle, workspace


def test_submit_export_import_decrypt_judicial_verify(
    runtime: Runtime,
    exported: tuple[Path, Workspace],
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    bundle, workspace = exported
    with runtime.session() as db:
        actions = list(db.scalars(select(AuditEvent.action)))
    assert actions.count("item_exported") == 4  # 3, then the consent document alone
    assert "export_created" in actions

    items = import_bundle(workspace, bundle)
    assert sorted(i.kind for i in items) == ["file", "message", "reply"]
    home = submission_key[1]
    done = {
        i.kind: decrypt_item(workspace, i, home, ["wrong passphrase", SUBMISSION_PASSPHRASE])
        for i in items
    }
    photo = done["file"]
    # The original keeps the source's designation and the submission number.
    assert photo.original.name == photo.item.ciphertext.name.removesuffix(".gz.gpg") + "-ifoto.jpg"
    assert photo.manifest is not None and photo.manifest["media_type"] == "image/jpeg"
    assert EXIF_MARKER.encode() in photo.original.read_bytes()  # the evidence, untouched
    assert photo.original.stat().st_mode & 0o777 == 0o400
    assert photo.working_copy is not None
    assert EXIF_MARKER.encode() not in photo.working_copy.read_bytes()  # mat2 stripped it
    assert done["message"].original.read_text() == "ubuhamya"
    assert done["reply"].manifest is None

    # No consent document of this source decrypted here yet: no judicial file.
    all_items = [i.uuid for i in items]
    with pytest.raises(ConsentRefusedError, match="no consent document of this source"):
        build_judicial(workspace, all_items, tmp_path / "out", "Case 12")
    assert not (tmp_path / "out").exists()
    consent = _with_court_consent(workspace, submission_key[1])

    judicial = build_judicial(workspace, [i.uuid for i in items], tmp_path / "out", "Case 12")
    verdict = verify_judicial(
        judicial,
        expect_workstation=workspace.key.fingerprint,
        expect_receipt_keys=[runtime.receipt_key.fingerprint],
    )
    assert verdict.ok, verdict.report()
    assert verdict.report().startswith("VERDICT: VERIFIED")
    assert verdict.report().count("the original is the plaintext of the ciphertext received") == 3
    # It states the consent document relied on: which, received when, saying yes.
    assert (
        f"Consent to court for item(s) {', '.join(all_items)}: relied on "
        f"{consent.ciphertext.name} (item {consent.uuid}), given (received by the server) "
        f"{consent.received_at} (receipt no. {consent.receipt_seq}), the latest consent of "
        f"source {consent.designation}\n  it says court: yes"
    ) in verdict.report()
    with zipfile.ZipFile(judicial) as zf:
        assert zf.read("summary.pdf").startswith(b"%PDF-")
    actions = [
        json.loads(line)["body"]["action"]
        for line in (workspace.root / "custody-log.jsonl").read_text().splitlines()
    ]
    assert actions[:2] == ["workspace-created", "receipt-key-trusted"]
    assert actions.count("imported") == 4 and actions.count("decrypted") == 4
    assert "consent-refused" in actions
    assert "working-copy" in actions and actions[-1] == "judicial-file"
    last = json.loads((workspace.root / "custody-log.jsonl").read_text().splitlines()[-1])
    assert last["body"]["details"]["court_consent"] == [consent.uuid]

    # A judicial file verified against other keys fails, naming the key.
    other = SigningKey.generate(tmp_path / "other.pem")
    wrong = verify_judicial(judicial, expect_workstation=other.fingerprint)
    assert not wrong.ok and "not the expected workstation key" in wrong.report()


def test_no_judicial_file_when_the_latest_consent_says_no_to_court(
    runtime: Runtime,
    analyst_client: FlaskClient,
    exported: tuple[Path, Workspace],
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    """Consent to court given, then withdrawn: the latest document counts."""
    bundle, workspace = exported
    items = import_bundle(workspace, bundle)
    _with_court_consent(workspace, submission_key[1])
    source_uuid = json.loads((items[0].directory / "item.json").read_text())["source_uuid"]
    withdrawn = _export_consent(
        runtime, analyst_client, source_uuid, "no", tmp_path / "withdrawn.zip"
    )
    for item in import_bundle(workspace, withdrawn):
        decrypt_item(workspace, item, submission_key[1], [SUBMISSION_PASSPHRASE])
    with pytest.raises(ConsentRefusedError, match=r"-msg\.gpg\) says court: no") as refused:
        build_judicial(workspace, [items[0].uuid], tmp_path / "out", "Case")
    assert refused.value.purpose == "court"
    last = json.loads((workspace.root / "custody-log.jsonl").read_text().splitlines()[-1])
    assert last["body"]["action"] == "consent-refused"
    assert last["body"]["details"] == {"purpose": "court", "items": [items[0].uuid]}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("suffix", "edit", "expected"),
    [
        ("doc.gz.gpg", lambda d: _flip(d), "ciphertext SHA-256 or size does not match"),
        ("msg.gpg", lambda d: _flip(d), "ciphertext SHA-256 or size does not match"),
        (".manifest.gpg", lambda d: _flip(d), "does not match the hash in its signed receipt"),
        ("receipts.jsonl", lambda d: d.replace(b'"size": ', b'"size": 9', 1), "bad signature"),
        (
            "receipts.jsonl",
            lambda d: b"".join(
                d.splitlines(True)[1:2] + d.splitlines(True)[0:1] + d.splitlines(True)[2:]
            ),
            "out of order",
        ),
        (
            "receipts.jsonl",
            lambda d: b"".join(d.splitlines(True)[0:1] + d.splitlines(True)[2:]),
            "missing or out of order",
        ),
        (
            "MANIFEST.json",
            lambda d: d.replace(b"analyst", b"analyst", 1).replace(b'"items"', b'"items" ', 1),
            "MANIFEST.json: bad signature",
        ),
    ],
)
def test_tampered_bundle_is_refused_naming_the_file(
    exported: tuple[Path, Workspace],
    tmp_path: Path,
    suffix: str,
    edit: Callable[[bytes], bytes],
    expected: str,
) -> None:
    bundle, workspace = exported
    name = _member(bundle, suffix)

    def change(members: dict[str, bytes]) -> None:
        members[name] = edit(members[name])

    bad = _rewrite(bundle, tmp_path / "bad.zip", change)
    with pytest.raises(BundleRefusedError, match=expected) as refused:
        import_bundle(workspace, bad)
    assert "REFUSED, nothing imported" in str(refused.value)
    assert not any((workspace.root / "evidence").glob("*-*"))


def test_bundle_signed_by_an_untrusted_key_is_refused(
    exported: tuple[Path, Workspace], tmp_path: Path
) -> None:
    bundle, _ = exported
    stranger = Workspace.create(tmp_path / "ws2", WS_PASSPHRASE)
    stranger.trust_receipt_key(SigningKey.generate(tmp_path / "k.pem").verify_key.pem())
    with pytest.raises(BundleRefusedError, match=r"receipt-key.pem: receipt key .* is not trusted"):
        import_bundle(stranger, bundle)


def test_wrong_submission_key_is_refused(exported: tuple[Path, Workspace], tmp_path: Path) -> None:
    bundle, workspace = exported
    items = import_bundle(workspace, bundle)
    other_home = tmp_path / "other-gnupg"
    GpgKeyring(other_home, server=False)
    with pytest.raises(Exception, match="no key and passphrase given opens it"):
        decrypt_item(workspace, items[0], other_home, [SUBMISSION_PASSPHRASE])
    assert not (workspace.root / "originals" / items[0].uuid).exists()


def test_swapped_sealed_manifest_is_detected(
    exported: tuple[Path, Workspace], submission_key: tuple[GeneratedKey, Path]
) -> None:
    bundle, workspace = exported
    items = {i.kind: i for i in import_bundle(workspace, bundle)}
    # Someone with write access to the workspace swaps the manifests of two items.
    doc, msg = items["file"], items["message"]
    assert doc.sealed_manifest is not None and msg.sealed_manifest is not None
    for path in (doc.sealed_manifest, msg.sealed_manifest):
        path.chmod(0o600)
    doc_bytes = doc.sealed_manifest.read_bytes()
    doc.sealed_manifest.write_bytes(msg.sealed_manifest.read_bytes())
    msg.sealed_manifest.write_bytes(doc_bytes)
    with pytest.raises(ManifestMismatchError, match="does not match its sealed manifest"):
        decrypt_item(workspace, doc, submission_key[1], [SUBMISSION_PASSPHRASE])


# Each part of a judicial file, changed by one byte, and what verification says. One
# file is built and each change made to its own copy (building one takes seconds).
JUDICIAL_TAMPERING = (
    ("originals/", "its SHA-256 does not match JUDICIAL-MANIFEST.json"),
    ("custody-log.jsonl", "custody-log.jsonl: its SHA-256 does not match"),
    ("receipts/", "its SHA-256 does not match"),
    ("ciphertext/", "its SHA-256 does not match"),
    ("JUDICIAL-MANIFEST.json", "JUDICIAL-MANIFEST.json: bad signature"),
    ("summary.pdf", "summary.pdf: its SHA-256 does not match"),
)


def test_tampered_judicial_file_fails_verification(
    exported: tuple[Path, Workspace],
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    bundle, workspace = exported
    items = import_bundle(workspace, bundle)
    for item in items:
        decrypt_item(workspace, item, submission_key[1], [SUBMISSION_PASSPHRASE])
    _with_court_consent(workspace, submission_key[1])
    judicial = build_judicial(workspace, [i.uuid for i in items], tmp_path / "out", "Case")
    assert verify_judicial(judicial).ok

    for index, (target, expected) in enumerate(JUDICIAL_TAMPERING):

        def change(members: dict[str, bytes], target: str = target) -> None:
            name = next(n for n in members if n.startswith(target))
            members[name] = _flip(members[name], len(members[name]) // 2)

        bad = _rewrite(judicial, tmp_path / f"bad-{index}.zip", change)
        verdict = verify_judicial(bad)
        assert not verdict.ok, target
        assert verdict.report().startswith("VERDICT: NOT VERIFIED"), target
        assert expected in verdict.report(), (target, verdict.report())


def test_export_requires_csrf_and_a_reader_role(
    runtime: Runtime, client: FlaskClient, analyst_client: FlaskClient
) -> None:
    source_uuid = _submit(runtime, _jpeg_with_exif())
    no_token = analyst_client.post("/export", data={"source": source_uuid})
    assert no_token.status_code == 400
    token = csrf_token(analyst_client, f"/sources/{source_uuid}")
    bad_uuid = analyst_client.post("/export", data={"csrf_token": token, "source": "../x"})
    assert bad_uuid.status_code == 400
    with runtime.session() as db:
        assert "export_created" not in list(db.scalars(select(AuditEvent.action)))


def test_partner_cannot_export(runtime: Runtime, partner_client: FlaskClient) -> None:
    source_uuid = _submit(runtime, _jpeg_with_exif())
    token = csrf_token(partner_client, "/")
    response = partner_client.post("/export", data={"csrf_token": token, "source": source_uuid})
    assert response.status_code == 403


def _flip_raw(path: Path, member_suffix: str) -> None:
    """Flip one byte of a member's data in the ZIP file itself, as disk damage would."""
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(member_suffix))
    data = bytearray(path.read_bytes())
    header = info.header_offset
    name_len = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_len = int.from_bytes(data[header + 28 : header + 30], "little")
    data[header + 30 + name_len + extra_len + info.compress_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_raw_byte_flips_in_zip_files_are_named(
    exported: tuple[Path, Workspace], submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    bundle, workspace = exported
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bundle.read_bytes())
    _flip_raw(damaged, "doc.gz.gpg")
    with pytest.raises(
        BundleRefusedError, match=r"doc.gz.gpg: damaged inside the ZIP \(Bad CRC-32"
    ):
        import_bundle(workspace, damaged)

    items = import_bundle(workspace, bundle)
    for item in items:
        decrypt_item(workspace, item, submission_key[1], [SUBMISSION_PASSPHRASE])
    _with_court_consent(workspace, submission_key[1])
    judicial = build_judicial(workspace, [i.uuid for i in items], tmp_path / "out", "Case")
    _flip_raw(judicial, "ifoto.jpg")
    verdict = verify_judicial(judicial)
    assert not verdict.ok
    assert "ifoto.jpg: altered (its checksum inside the ZIP fails)" in verdict.report()


def test_an_insider_swapping_an_original_is_caught_by_the_session_key(
    exported: tuple[Path, Workspace], submission_key: tuple[GeneratedKey, Path], tmp_path: Path
) -> None:
    """Even with the workstation key (a forged log entry), a swapped original fails: the
    received ciphertext, opened with its session key, is not it."""
    bundle, workspace = exported
    items = {i.kind: i for i in import_bundle(workspace, bundle)}
    done = decrypt_item(workspace, items["file"], submission_key[1], [SUBMISSION_PASSPHRASE])
    forged = _jpeg_with_exif().replace(b"CAMERA", b"CAMERB")
    done.original.chmod(0o600)
    done.original.write_bytes(forged)
    workspace.log.append(
        "decrypted",
        {"item": done.item.uuid, "sha256": hashlib.sha256(forged).hexdigest(), "size": len(forged)},
    )
    _with_court_consent(workspace, submission_key[1])
    judicial = build_judicial(workspace, [done.item.uuid], tmp_path / "out", "Case")
    verdict = verify_judicial(judicial)
    assert not verdict.ok
    assert "ifoto.jpg: not the plaintext of the ciphertext the server received" in verdict.report()


def test_export_of_chosen_submissions_only(
    runtime: Runtime, analyst_client: FlaskClient, tmp_path: Path
) -> None:
    source_uuid = _submit(runtime, _jpeg_with_exif())
    page = analyst_client.get(f"/sources/{source_uuid}").get_data(as_text=True)
    ticked = re.findall(r'name="item" value="([0-9a-f-]{36})" form="export-form"', page)
    assert len(ticked) == 2  # the message and the photo; replies are not listed
    token = csrf_token(analyst_client, f"/sources/{source_uuid}")
    response = analyst_client.post(
        "/export", data={"csrf_token": token, "source": source_uuid, "item": ticked[1]}
    )
    assert response.status_code == 200
    bundle = tmp_path / "one.zip"
    bundle.write_bytes(response.get_data())
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("MANIFEST.json"))
    assert [item["uuid"] for item in manifest["items"]] == [ticked[1]]
    workspace = Workspace.create(tmp_path / "ws", WS_PASSPHRASE)
    workspace.trust_receipt_key(runtime.receipt_key.verify_key.pem())
    assert [i.uuid for i in import_bundle(workspace, bundle)] == [ticked[1]]


def test_a_signed_but_hostile_item_id_cannot_escape_the_workspace(
    runtime: Runtime, exported: tuple[Path, Workspace], tmp_path: Path
) -> None:
    """A compromised server holds the receipt key: what it signs is still checked."""
    bundle, workspace = exported

    def change(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["MANIFEST.json"])
        manifest["items"][0]["uuid"] = "../../escaped"
        raw = json.dumps(manifest).encode()
        members["MANIFEST.json"] = raw
        members["MANIFEST.json.sig"] = base64.b64encode(runtime.receipt_key.sign(raw))

    hostile = _rewrite(bundle, tmp_path / "hostile.zip", change)
    with pytest.raises(BundleRefusedError, match="its item id is not a uuid"):
        import_bundle(workspace, hostile)
    assert not (tmp_path / "escaped").exists()
