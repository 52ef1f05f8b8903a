"""Messages between professionals on a case shared by two instances, on SQLite and
PostgreSQL, with real gpg: an NGO analyst writes on the case page of a case transferred
to a medical partner; `backupctl federation send-messages` sends it through a SOCKS
relay (tor's stand-in) to the partner's real endpoint, served over HTTP; it crossed
sealed to the partner's submission key only (our copy to our readers and our
submission key); the partner keeps it on its side of the transfer and shows it in the
thread; a message for a transfer the peer is not part of is refused, so is a replayed
envelope and the same message again; no plaintext on either server."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import uuid as uuidlib
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.test import Client

from composition.runtime import Runtime
from federation.app import create_app as create_endpoint
from federation.envelope import seal_envelope
from federation.identity import load_identity
from federation.kinds import CASE_MESSAGE
from journalist_app import create_app
from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.federation import (
    add_peer,
    federation_cli,
    identity_card,
    serve_wsgi,
    shared_case,
)
from tests.support.journalist import FAST_HASHER, login, make_account, post_form
from tests.support.leaks import assert_no_leak
from tests.support.socks_relay import socks_relay
from vault.models import (
    AuditEvent,
    CaseMessage,
    CaseTransfer,
    FederationPeer,
    Role,
)

MARKER = "MARKER-msg-5QX2 the clinic can see her on Thursday"
NGO_ONION = "n" * 56 + ".onion"
MEDICAL_ONION = "m" * 56 + ".onion"


def test_message_crosses_sealed_and_is_refused_where_it_does_not_belong(
    runtime: Runtime,
    cli_env: dict[str, str],
    medical: tuple[Runtime, GeneratedKey, Path],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
    workstation_keyring: GpgKeyring,
) -> None:
    other, medical_key, medical_home = medical
    assert cli_env["REDIS_URL"]
    ngo_env = {**cli_env, "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "ngo-onion")}
    medical_env = {
        "BACKUP_INSTANCE_DIR": str(other.config.instance_dir),
        "DATABASE_URL": other.config.database_url,
        "REDIS_URL": cli_env["REDIS_URL"],
        "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "medical-onion"),
    }
    ngo_card = dataclasses.replace(
        identity_card(ngo_env, tmp_path / "ngo-card", submission_key[0].public_armored),
        onion=NGO_ONION,
    )
    medical_card = dataclasses.replace(
        identity_card(medical_env, tmp_path / "medical-card", medical_key.public_armored),
        onion=MEDICAL_ONION,
    )
    add_peer(ngo_env, "medical", medical_card)
    add_peer(medical_env, "ngo", ngo_card)
    transfer = str(uuidlib.uuid4())
    ngo_analyst = make_account(runtime, "ana", Role.ANALYST)
    medical_analyst = make_account(other, "doc", Role.ANALYST)
    ngo_case = shared_case(runtime, ngo_analyst.uuid, "medical", transfer, "out")
    medical_case = shared_case(other, medical_analyst.uuid, "ngo", transfer, "in")

    # The NGO analyst writes on the case page; our copy reads back in the thread.
    app = create_app(runtime.config, runtime, hasher=FAST_HASHER)
    app.testing = True
    client = app.test_client()
    assert login(client, ngo_analyst).status_code == 302
    page = f"/cases/{ngo_case}/partner-messages"
    assert page in client.get(f"/cases/{ngo_case}").get_data(as_text=True)
    response = post_form(client, page, {"transfer": transfer, "text": MARKER}, page=page)
    assert response.status_code == 302
    thread = client.get(page).get_data(as_text=True)
    assert MARKER in thread and "waiting to be sent" in thread

    with runtime.session() as db:
        message = db.scalars(select(CaseMessage)).one()
        assert (message.direction, message.outcome) == ("out", "queued")
        assert message.outgoing is not None
        outgoing, ours, message_id = message.outgoing, message.ciphertext, message.uuid
    # The copy that leaves opens with the partner's key, not ours; our copy with ours.
    medical_keyring = GpgKeyring(medical_home, server=False)
    assert medical_keyring.open_bytes(outgoing, SUBMISSION_PASSPHRASE) == MARKER.encode()
    with pytest.raises(DecryptionError):
        workstation_keyring.open_bytes(outgoing, SUBMISSION_PASSPHRASE)
    assert workstation_keyring.open_bytes(ours, SUBMISSION_PASSPHRASE) == MARKER.encode()

    # send-messages, through "tor", to the partner's real endpoint.
    serving = serve_wsgi(create_endpoint(medical_env))
    port = next(serving)
    try:
        with socks_relay(to_port=port) as (proxy, asked):
            send_env = {**ngo_env, "BACKUP_FEDERATION_SOCKS": f"{proxy[0]}:{proxy[1]}"}
            sent = federation_cli(send_env, "send-messages", "--wait", "0")
            assert f"medical\t{message_id}\taccepted" in sent.output
            assert asked == [(MEDICAL_ONION, 80)]
            # Nothing left to send: the next run sends nothing again.
            again = federation_cli(send_env, "send-messages", "--wait", "0")
            assert "0 message(s) were waiting" in again.output
    finally:
        next(serving, None)

    with runtime.session() as db:
        message = db.scalars(select(CaseMessage)).one()
        assert (message.outcome, message.outgoing) == ("accepted", None)
        sent_event = db.scalar(select(AuditEvent).where(AuditEvent.action == "case_message_sent"))
        assert sent_event is not None and sent_event.object_uuid == ngo_case
    with other.session() as db:
        received = db.scalars(select(CaseMessage)).one()
        assert (received.direction, received.uuid, received.outcome) == (
            "in",
            message_id,
            "received",
        )
        assert received.transfer.case is not None and received.transfer.case.uuid == medical_case
        assert received.ciphertext == outgoing
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "case_message_received"))
        assert event is not None and event.object_uuid == medical_case
        assert message_id in (event.detail or "")
    assert medical_keyring.open_bytes(received.ciphertext, SUBMISSION_PASSPHRASE) == (
        MARKER.encode()
    )

    # The partner's analyst sees it in the case's thread, to be read on the workstation.
    medical_app = create_app(other.config, other, hasher=FAST_HASHER)
    medical_app.testing = True
    medical_client = medical_app.test_client()
    assert login(medical_client, medical_analyst).status_code == 302
    theirs = medical_client.get(f"/cases/{medical_case}/partner-messages")
    assert theirs.status_code == 200
    text = theirs.get_data(as_text=True)
    assert 'class="partner-message in"' in text and "read it on the workstation" in text
    assert MARKER not in text

    # Straight to the endpoint: a transfer shared with another peer, one unknown, the same
    # message again (a fresh envelope): refused "body"; the same envelope twice: replay.
    with other.session() as db:
        stranger = FederationPeer(
            uuid=str(uuidlib.uuid4()), name="stranger", fingerprint="C" * 64,
            onion="s" * 56 + ".onion", verify_key="-", client_auth_public="A" * 52,
        )  # fmt: skip
        db.add(stranger)
        db.flush()
        others_transfer = str(uuidlib.uuid4())
        db.add(
            CaseTransfer(
                transfer_uuid=others_transfer, direction="in", peer_id=stranger.id,
                case_id=None, envelope_id=None, items=1,
            )
        )  # fmt: skip
    signing = load_identity(Path(cli_env["BACKUP_INSTANCE_DIR"]) / "federation").signing
    endpoint = Client(create_endpoint(medical_env))

    def post(body: dict[str, str]) -> tuple[bytes, tuple[int, object]]:
        _i, raw = seal_envelope(
            signing, kind=CASE_MESSAGE, recipient=medical_card.fingerprint, body=body
        )
        answer = endpoint.post("/v1/envelope", data=raw, content_type="application/json")
        return raw, (answer.status_code, answer.json)

    body = {
        "transfer": transfer,
        "message": message_id,
        "ciphertext": base64.b64encode(outgoing).decode(),
        "created": "2026-12-06T10:00:00Z",
    }
    refused = (403, {"refused": "body"})
    assert post({**body, "transfer": others_transfer, "message": secrets.token_hex(16)})[1] == (
        refused
    )
    assert (
        post({**body, "transfer": str(uuidlib.uuid4()), "message": secrets.token_hex(16)})[1]
        == refused
    )
    assert post(body)[1] == refused  # here already
    raw, answer = post({**body, "message": secrets.token_hex(16)})
    assert answer[0] == 200
    replayed = endpoint.post("/v1/envelope", data=raw, content_type="application/json")
    assert (replayed.status_code, replayed.json) == (403, {"refused": "replay"})
    with other.session() as db:
        assert len(db.scalars(select(CaseMessage)).all()) == 2
        reasons = [
            e.detail
            for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "federation_refused"))
        ]
        assert len(reasons) == 4

    # No plaintext on either server: databases, Redis, every file of both instances.
    files = [
        p
        for root in (runtime.config.instance_dir, other.config.instance_dir)
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("S.")
    ]
    assert_no_leak(
        [MARKER, "MARKER-msg"],
        engine=[runtime.engine, other.engine],
        redis=runtime.redis,
        files=files,
    )
