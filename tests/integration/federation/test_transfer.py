"""A referred case transferred from an NGO's instance to a partner's, through the real
federation endpoint on SQLite and PostgreSQL (no tor: test_receive.py's way), with real
gpg on both workstations: refused without consent; with it, the request written by
`backupctl federation transfer --request`, re-sealed by `backupctl workstation
transfer`, checked and sent; the partner's items open with the partner's key only, its
receipts verify and name the NGO's; a changed item and a replay are refused; no
plaintext on either server.

Only cleaned copies leave (real mat2): a photo carrying its GPS position, phone and
author reaches the partner without them, under a neutral name, with a sealed manifest
that checks on the partner's workstation; a file mat2 cannot clean refuses the transfer
until the analyst names it with --include-uncleaned."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import io
import json
import os
import subprocess  # nosec B404
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from redis import Redis
from sqlalchemy import select
from werkzeug.test import Client

from backupctl.cli import main
from composition.runtime import Runtime
from federation.app import make_app
from federation.envelope import seal_envelope
from federation.identity import load_identity
from federation.kinds import CASE_TRANSFER, handlers, verify_package
from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from keys.lifecycle import GeneratedKey
from keys.receipts import RECEIPT_KEY_FILE, TrustedKeys, body_hash
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.consent import record_consent
from tests.support.federation import (
    PeerCard,
    add_peer,
    federation_cli,
    identity_card,
    other_instance,
)
from tests.support.workstation_files import GPS_IFD, PERSON, PHONE, jpeg_with_gps
from vault import codenames
from vault.models import (
    AuditEvent,
    Case,
    CaseTransfer,
    CustodyReceipt,
    Role,
    Submission,
)
from vault.services import case_transfers, cases, custody, federation_peers, reviewers, sources
from vault.store import DocumentSink
from workstation.decrypt import gzip_original_name

MESSAGE = "MARKER-transfer-7f3a the survivor's words"
DOCUMENT = b"MARKER-document-91c2 " + os.urandom(2000)


@pytest.fixture
def partner(
    tmp_path: Path, database_url: str, redis: Redis, request: pytest.FixtureRequest
) -> Iterator[tuple[Runtime, GeneratedKey, Path]]:
    """A second instance (the partner organisation), on the same kind of database,
    with a submission key of its own."""
    with other_instance(tmp_path, "partner", database_url, redis, request) as made:
        yield made


def _case_with_a_report(
    runtime: Runtime, files: tuple[tuple[str, bytes], ...] = (("evidence.bin", DOCUMENT),)
) -> tuple[str, str, str]:
    """(analyst uuid, case uuid, source uuid): a source who sent a message and `files`."""
    with runtime.session() as db:
        creds = sources.begin_source(db, runtime.config, codenames.generate_codename())
        sinks = []
        for name, data in files:
            pending = runtime.store.begin_unassigned([runtime.submission_fingerprint])
            sink = DocumentSink(pending, name)
            sink.write(data)
            sinks.append(sink)
        source, _created = sources.submit_first(
            db, runtime.keyring, runtime.store, creds, runtime.submission_fingerprint,
            MESSAGE, sinks,
        )  # fmt: skip
        analyst, _ = reviewers.create_reviewer(db, "ana", Role.ANALYST)
        case = cases.create_case(db, analyst, source_uuids=[source.uuid])
        return analyst.uuid, case.uuid, source.uuid


def _linked(
    cli_env: dict[str, str],
    partner: tuple[Runtime, GeneratedKey, Path],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> tuple[dict[str, str], PeerCard, PeerCard]:
    """(the NGO's environment, its card, the partner's card): each a peer of the other."""
    ngo_env = {**cli_env, "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "ngo-onion")}
    other, partner_key, _home = partner
    partner_env = {
        "BACKUP_INSTANCE_DIR": str(other.config.instance_dir),
        "DATABASE_URL": other.config.database_url,
        "REDIS_URL": cli_env["REDIS_URL"],
        "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "partner-onion"),
    }
    ngo_card = replace(
        identity_card(ngo_env, tmp_path / "ngo-card", submission_key[0].public_armored),
        onion="a" * 56 + ".onion",
    )
    partner_card = replace(
        identity_card(partner_env, tmp_path / "partner-card", partner_key.public_armored),
        onion="b" * 56 + ".onion",
    )
    add_peer(ngo_env, "medical", partner_card)
    add_peer(partner_env, "ngo", ngo_card)
    return ngo_env, ngo_card, partner_card


def _workstation(args: list[str]) -> str:
    result = CliRunner().invoke(main, ["workstation", "transfer", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _post(client: Client, raw: bytes) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/envelope", data=raw, content_type="application/json")
    return response.status_code, json.loads(response.data)


def _no_marker_under(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and not path.name.startswith("S."):
            data = path.read_bytes()
            assert b"MARKER-" not in data, path


def test_case_moves_with_consent_and_is_refused_without(
    runtime: Runtime,
    cli_env: dict[str, str],
    partner: tuple[Runtime, GeneratedKey, Path],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
    workstation_keyring: GpgKeyring,
) -> None:
    other, partner_key, partner_home = partner
    ngo_env, ngo_card, partner_card = _linked(cli_env, partner, tmp_path, submission_key)
    analyst, case_uuid, source_uuid = _case_with_a_report(runtime)
    request_file = tmp_path / "request.json"

    # Without a recorded consent for referral: refused, audited, nothing written.
    refused = federation_cli(
        ngo_env, "transfer", case_uuid, "--to", "medical", "--request", str(request_file),
        ok=False,
    )  # fmt: skip
    assert refused.exit_code != 0 and "consent" in refused.output
    assert not request_file.exists()
    with runtime.session() as db:
        refusal = db.scalar(
            select(AuditEvent).where(AuditEvent.action == "consent_refused_refer_partner")
        )
        assert refusal is not None and refusal.object_uuid == source_uuid

    record_consent(runtime, analyst, case_uuid, source_uuid, "refer_partner")
    with runtime.session() as db:
        reference = db.scalars(select(Case.reference)).one()
    out = federation_cli(
        ngo_env, "transfer", reference, "--to", "medical", "--request", str(request_file)
    ).output
    assert "2 item(s)" in out and partner_key.fingerprint in out
    assert request_file.stat().st_mode & 0o077 == 0

    # The workstation refuses a receiving key other than the one the analyst was given.
    package = tmp_path / "package.json"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(SUBMISSION_PASSPHRASE + "\n")
    receipt_pem = tmp_path / "receipt.pem"
    receipt_pem.write_text(runtime.receipt_key.verify_key.pem())
    common = [
        str(request_file), "--home", str(submission_key[1]), "--passphrase-file",
        str(passphrase), "--receipt-key", str(receipt_pem), "--out", str(package),
    ]  # fmt: skip
    wrong = CliRunner().invoke(
        main, ["workstation", "transfer", *common, "--recipient", submission_key[0].fingerprint]
    )
    assert wrong.exit_code != 0 and "REFUSED" in wrong.output and not package.exists()
    # A request whose item the server changed is refused against its receipt.
    forged_request = tmp_path / "forged-request.json"
    request = json.loads(request_file.read_bytes())
    changed = copy.deepcopy(request)
    changed["items"][0]["ciphertext"] = base64.b64encode(b"\x00" * 10).decode()
    forged_request.write_text(json.dumps(changed))
    bad = CliRunner().invoke(
        main,
        [
            "workstation",
            "transfer",
            *common[1:],
            str(forged_request),
            "--recipient",
            partner_key.fingerprint,
        ],
    )
    assert bad.exit_code != 0 and "receipt" in bad.output

    # evidence.bin (random bytes) is no format mat2 can clean: it goes only when named.
    resealed = _workstation(
        [*common, "--recipient", partner_key.fingerprint, "--include-uncleaned", "2"]
    )
    assert "item 2: evidence.bin -> 2-document-uncleaned.bin: NOT CLEANED" in resealed
    body = json.loads(package.read_bytes())

    # Step 3 as `transfer --package` does it, with the partner's endpoint in place of tor.
    ngo_identity = load_identity(Path(cli_env["BACKUP_INSTANCE_DIR"]) / "federation").signing
    document = _checked(runtime, submission_key, case_uuid, body)
    partner_app = _partner_endpoint(partner, partner_card)
    # An item changed after the workstation signed (by a server that carries it): refused.
    tampered = copy.deepcopy(body)
    raw_item = bytearray(base64.b64decode(tampered["items"][1]))
    raw_item[-1] ^= 1
    tampered["items"][1] = base64.b64encode(bytes(raw_item)).decode()
    _i, raw = seal_envelope(
        ngo_identity, kind=CASE_TRANSFER, recipient=partner_card.fingerprint, body=tampered
    )
    assert _post(partner_app, raw) == (403, {"refused": "body"})

    envelope_id, raw = seal_envelope(
        ngo_identity, kind=CASE_TRANSFER, recipient=partner_card.fingerprint, body=body
    )
    status, answer = _post(partner_app, raw)
    assert status == 200, answer
    _record(runtime, case_uuid, document, envelope_id)
    # The same envelope again: a replay; the same package in a new envelope: here already.
    assert _post(partner_app, raw) == (403, {"refused": "replay"})
    _i, again = seal_envelope(
        ngo_identity, kind=CASE_TRANSFER, recipient=partner_card.fingerprint, body=body
    )
    assert _post(partner_app, again) == (403, {"refused": "body"})

    # The NGO's side: what left, in its custody chain and its audit log.
    with runtime.session() as db:
        out = db.scalars(select(CustodyReceipt).where(CustodyReceipt.kind == "transferred")).all()
        assert len(out) == 2
        origin = {
            r.hash
            for r in db.scalars(select(CustodyReceipt).where(CustodyReceipt.kind != "transferred"))
        }
        sent = [json.loads(r.body) for r in out]
        assert {b["origin"] for b in sent} <= origin
        assert {b["peer"] for b in sent} == {partner_card.fingerprint}
        assert {b["sha256"] for b in sent} == {i["sha256"] for i in document["items"]}
        assert custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key])) > 2
        row = db.scalars(select(CaseTransfer)).one()
        assert (row.direction, row.envelope_id, row.items) == ("out", envelope_id, 2)
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "case_transferred"))
        assert event is not None and event.object_uuid == case_uuid
        assert "MARKER" not in (event.detail or "")

    # The partner's side: a new case and source, items sealed to the partner's key only.
    with other.session() as db:
        new_case = db.scalars(select(Case)).one()
        assert answer["object"] == new_case.uuid
        assert [label.label for label in new_case.labels] == ["transferred"]
        items = db.scalars(select(Submission).order_by(Submission.id)).all()
        assert [s.kind.value for s in items] == ["message", "file"]
        paths = [other.store.path_of(s.source.uuid, s.filename) for s in items]
        receipts = custody.receipts_for(db, [s.uuid for s in items])
        assert custody.verify_log(db, TrustedKeys([other.receipt_key.verify_key])) == 2
        bodies = [json.loads(r.body) for r in receipts]
        assert [b["origin"] for b in bodies] == [i["origin"]["receipt"] for i in document["items"]]
        assert {b["from"] for b in bodies} == {ngo_card.fingerprint}
        assert [b["sha256"] for b in bodies] == [s.sha256 for s in items]
        manifests = [r.sealed_manifest for r in receipts]
        received = db.scalars(select(CaseTransfer)).one()
        assert (received.direction, received.case_id) == ("in", new_case.id)
        actions = set(db.scalars(select(AuditEvent.action)))
        assert {"case_transfer_received", "federation_received", "case_created"} <= actions
    # Each origin is a receipt of the NGO's that names the item it came from.
    with runtime.session() as db:
        ngo_receipts = {r.hash: json.loads(r.body) for r in db.scalars(select(CustodyReceipt))}
    for b in bodies:
        assert ngo_receipts[b["origin"]]["sha256"] == b["origin_sha256"]
        assert body_hash(ngo_receipts[b["origin"]]) == b["origin"]

    partner_keyring = GpgKeyring(partner_home, server=False)
    assert partner_keyring.open_bytes(paths[0].read_bytes(), SUBMISSION_PASSPHRASE) == (
        MESSAGE.encode()
    )
    opened = gzip.decompress(
        partner_keyring.open_bytes(paths[1].read_bytes(), SUBMISSION_PASSPHRASE)
    )
    assert opened == DOCUMENT
    # The plaintext's hash, sealed in the manifest, checks on the partner's workstation.
    assert manifests[1] is not None
    manifest = json.loads(partner_keyring.open_bytes(manifests[1], SUBMISSION_PASSPHRASE))
    assert manifest["sha256"] == custody.Manifest.for_bytes(DOCUMENT, "x").sha256
    # Our key no longer opens what the partner holds.
    with pytest.raises(DecryptionError):
        workstation_keyring.open_bytes(paths[0].read_bytes(), SUBMISSION_PASSPHRASE)

    # No plaintext on either server: store, instance directory, SQLite files.
    _no_marker_under(runtime.config.instance_dir)
    _no_marker_under(other.config.instance_dir)
    _no_marker_under(tmp_path / "ngo-onion")
    for carried in (request_file, package, *tmp_path.glob("*.sqlite*")):
        assert b"MARKER-" not in carried.read_bytes(), carried
    for rt in (runtime, other):
        with rt.session() as db:
            for text in db.scalars(select(AuditEvent.detail)):
                assert "MARKER" not in (text or "")
            for text in db.scalars(select(CustodyReceipt.body)):
                assert "MARKER" not in text
    assert (other.config.instance_dir / RECEIPT_KEY_FILE).exists()


def _checked(
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    case_uuid: str,
    body: dict[str, object],
) -> dict[str, Any]:
    """Our server's checks of a package before it leaves (`transfer --package`)."""
    with runtime.session() as db:
        case = case_transfers.case_by_ref(db, case_uuid)
        medical = federation_peers.get_peer(db, "medical")
        return case_transfers.check_outgoing(
            db, case, medical, body, own_key=submission_key[0].public_armored,
            own_fpr=submission_key[0].fingerprint, verify=verify_package,
        )  # fmt: skip


def _partner_endpoint(
    partner: tuple[Runtime, GeneratedKey, Path], partner_card: PeerCard
) -> Client:
    """The partner's federation endpoint, in place of its onion service."""
    other, partner_key, _home = partner
    return Client(
        make_app(
            other.session_factory,
            partner_card.fingerprint,
            handlers=handlers(other.store, partner_key.fingerprint),
        )
    )


def _record(runtime: Runtime, case_uuid: str, document: dict[str, Any], envelope_id: str) -> None:
    """Our record of a package the partner accepted."""
    with runtime.session() as db:
        case = case_transfers.case_by_ref(db, case_uuid)
        medical = federation_peers.get_peer(db, "medical")
        case_transfers.record_transferred(db, case, medical, document, envelope_id)


def _deliver(
    runtime: Runtime,
    cli_env: dict[str, str],
    partner: tuple[Runtime, GeneratedKey, Path],
    partner_card: PeerCard,
    submission_key: tuple[GeneratedKey, Path],
    case_uuid: str,
    body: dict[str, object],
) -> None:
    """Step 3 as `transfer --package` does it, with the partner's endpoint in place of
    tor: our server's checks, the envelope, the partner's answer, our record."""
    document = _checked(runtime, submission_key, case_uuid, body)
    partner_app = _partner_endpoint(partner, partner_card)
    ngo_identity = load_identity(Path(cli_env["BACKUP_INSTANCE_DIR"]) / "federation").signing
    envelope_id, raw = seal_envelope(
        ngo_identity, kind=CASE_TRANSFER, recipient=partner_card.fingerprint, body=body
    )
    status, answer = _post(partner_app, raw)
    assert status == 200, answer
    _record(runtime, case_uuid, document, envelope_id)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_cleaned_copies_leave_the_workstation(
    runtime: Runtime,
    cli_env: dict[str, str],
    partner: tuple[Runtime, GeneratedKey, Path],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> None:
    other, partner_key, partner_home = partner
    ngo_env, _ngo_card, partner_card = _linked(cli_env, partner, tmp_path, submission_key)
    photo = jpeg_with_gps()
    analyst, case_uuid, source_uuid = _case_with_a_report(
        runtime, (("IMG_20240305_Jeanne.jpg", photo), ("evidence.bin", DOCUMENT))
    )
    record_consent(runtime, analyst, case_uuid, source_uuid, "refer_partner")
    request_file = tmp_path / "request.json"
    federation_cli(
        ngo_env, "transfer", case_uuid, "--to", "medical", "--request", str(request_file)
    )
    package = tmp_path / "package.json"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(SUBMISSION_PASSPHRASE + "\n")
    receipt_pem = tmp_path / "receipt.pem"
    receipt_pem.write_text(runtime.receipt_key.verify_key.pem())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = [
        "workstation", "transfer", str(request_file), "--home", str(submission_key[1]),
        "--passphrase-file", str(passphrase), "--receipt-key", str(receipt_pem),
        "--out", str(package), "--recipient", partner_key.fingerprint,
        "--scratch", str(scratch),
    ]  # fmt: skip

    # A file mat2 cannot clean: the whole transfer is refused, the file named, nothing
    # written, nothing left in the scratch folder.
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0, refused.output
    assert "REFUSED: only cleaned copies leave the workstation" in refused.output
    assert "item 3 (evidence.bin): mat2 cannot clean this format" in refused.output
    assert "--include-uncleaned 3" in refused.output
    assert not package.exists() and not list(scratch.iterdir())
    # Naming an item that is no file (the message) is refused, not ignored.
    typo = CliRunner().invoke(main, [*args, "--include-uncleaned", "1"])
    assert typo.exit_code != 0 and "item 1 is not a file" in typo.output
    assert not package.exists()

    # Named: it goes as it is, and says so; the photo goes cleaned, and says what went.
    output = _workstation([*args[2:], "--include-uncleaned", "3"])
    assert "item 2: IMG_20240305_Jeanne.jpg -> 2-image.jpg (cleaned copy)" in output
    assert "WARNING: IMG_20240305_Jeanne.jpg carries metadata" in output
    for removed in ("GPSLatitude:", f"Model: {PHONE}", f"Artist: {PERSON}"):
        assert f"removed  {removed}" in output
    assert (
        "WARNING: item 3: evidence.bin -> 3-document-uncleaned.bin: NOT CLEANED "
        "(mat2 cannot clean this format); sent as it is, as --include-uncleaned 3 asked"
    ) in output
    assert "3 item(s) sealed to" in output
    assert not list(scratch.iterdir())
    body = json.loads(package.read_bytes())
    _deliver(runtime, cli_env, partner, partner_card, submission_key, case_uuid, body)

    # The partner's side: what it stores is what our workstation made of the files.
    with other.session() as db:
        items = db.scalars(select(Submission).order_by(Submission.id)).all()
        assert [s.kind.value for s in items] == ["message", "file", "file"]
        stored = [other.store.path_of(s.source.uuid, s.filename) for s in items]
        receipts = custody.receipts_for(db, [s.uuid for s in items])
        manifests = [r.sealed_manifest for r in receipts]
    keyring = GpgKeyring(partner_home, server=False)
    assert keyring.open_bytes(stored[0].read_bytes(), SUBMISSION_PASSPHRASE) == MESSAGE.encode()
    sent = {}
    for path, sealed_manifest in zip(stored[1:], manifests[1:], strict=True):
        packed = keyring.open_bytes(path.read_bytes(), SUBMISSION_PASSPHRASE)
        name = gzip_original_name(io.BytesIO(packed), path.name)
        assert name is not None
        content = gzip.decompress(packed)
        # The sealed manifest names what came, so the partner's workstation checks it.
        assert sealed_manifest is not None
        manifest = json.loads(keyring.open_bytes(sealed_manifest, SUBMISSION_PASSPHRASE))
        assert manifest["filename"] == name.decode()
        assert (manifest["sha256"], manifest["size"]) == (
            hashlib.sha256(content).hexdigest(),
            len(content),
        )
        assert b"Jeanne" not in packed and "Jeanne" not in json.dumps(manifest)
        sent[name.decode()] = (content, manifest)
    assert set(sent) == {"2-image.jpg", "3-document-uncleaned.bin"}

    # The photo: a JPEG still, without its position, phone or author.
    cleaned, manifest = sent["2-image.jpg"]
    assert manifest["media_type"] == "image/jpeg"
    exif = Image.open(io.BytesIO(cleaned)).getexif()
    assert GPS_IFD not in exif and 0x0110 not in exif and 0x013B not in exif
    assert PHONE.encode() not in cleaned and PERSON.encode() not in cleaned
    received = tmp_path / "received.jpg"
    received.write_bytes(cleaned)
    shown = subprocess.run(  # nosec B603 B607
        ["mat2", "--show", str(received)], capture_output=True, text=True, check=True
    )
    assert "GPS" not in shown.stdout and PERSON not in shown.stdout, shown.stdout
    assert PHONE not in shown.stdout, shown.stdout
    # The file named with --include-uncleaned: as the source sent it.
    assert sent["3-document-uncleaned.bin"][0] == DOCUMENT

    # The partner's workstation decrypts them as it decrypts anything a source sent.
    decrypted = tmp_path / "partner-decrypted"
    result = CliRunner().invoke(
        main,
        [
            "workstation", "decrypt", "--home", str(partner_home), "--passphrase-file",
            str(passphrase), "--out", str(decrypted), *map(str, stored),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in decrypted.iterdir() if p.is_file())
    assert [n.split("-doc-", 1)[-1] for n in names if "-doc-" in n] == [
        "2-image.jpg",
        "3-document-uncleaned.bin",
    ]
