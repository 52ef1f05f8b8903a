"""A partner's messages read by our professionals in the reviewer interface, on SQLite
and PostgreSQL, real gpg: each instance publishes the public account keys of its
readers of case messages (`backupctl federation send-readers`, through a SOCKS relay
standing in for tor to the other's real endpoint); a message written on one side is
sealed to the other's submission key and to those readers, crosses with
`send-messages`, is recorded as sealed to them, and reads in the other side's case
thread, both ways, and is sealed again for a reader who joined since, as notes are.
Readers that are not well-formed OpenPGP public keys able to encrypt, not the key their
fingerprint names, or not newer are refused; a message sealed to keys the receiver does
not know is refused; no plaintext on either server."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import subprocess
import uuid as uuidlib
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import Client

from composition.runtime import Runtime
from federation.app import create_app as create_endpoint
from federation.envelope import seal_envelope
from federation.identity import load_identity
from federation.kinds import CASE_MESSAGE, READERS
from journalist_app import create_app
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.federation import (
    add_peer,
    federation_cli,
    identity_card,
    serve_wsgi,
    shared_case,
)
from tests.support.journalist import FAST_HASHER, Account, login, make_account, post_form
from tests.support.leaks import assert_no_leak
from tests.support.socks_relay import socks_relay
from vault.models import (
    AccountKey,
    AuditEvent,
    CaseMessage,
    FederationPeer,
    PeerReaderKey,
    Reviewer,
    Role,
)
from vault.services.resealing import pkesk_key_ids

TO_MEDICAL = "MARKER-rdr-8KQ1 she can come to the clinic on Monday"
TO_NGO = "MARKER-rdr-3ZP7 the doctor saw her, a report follows"
NGO_ONION = "n" * 56 + ".onion"
MEDICAL_ONION = "m" * 56 + ".onion"


def _client(rt: Runtime, account: Account) -> FlaskClient:
    app = create_app(rt.config, rt, hasher=FAST_HASHER)
    app.testing = True
    client = app.test_client()
    assert login(client, account).status_code == 302  # makes the account key
    return client


def _fingerprint(rt: Runtime, account: Account) -> str:
    with rt.session() as db:
        return db.scalars(
            select(AccountKey.fingerprint)
            .join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
            .where(Reviewer.uuid == account.uuid)
        ).one()


def _through(env: dict[str, str], endpoint_env: dict[str, str], *args: str) -> str:
    """`backupctl federation ARGS` through a SOCKS relay to the other's real endpoint."""
    serving = serve_wsgi(create_endpoint(endpoint_env))
    port = next(serving)
    try:
        with socks_relay(to_port=port) as (proxy, _asked):
            send_env = {**env, "BACKUP_FEDERATION_SOCKS": f"{proxy[0]}:{proxy[1]}"}
            return federation_cli(send_env, *args, "--wait", "0").output
    finally:
        next(serving, None)


def _write(client: FlaskClient, case: str, transfer: str, text: str) -> None:
    page = f"/cases/{case}/partner-messages"
    response = post_form(client, page, {"transfer": transfer, "text": text}, page=page)
    assert response.status_code == 302


def test_partner_messages_read_in_the_reviewer_interface_both_ways(
    runtime: Runtime,
    cli_env: dict[str, str],
    medical: tuple[Runtime, GeneratedKey, Path],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> None:
    other, medical_key, medical_home = medical
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
    ana = make_account(runtime, "ana", Role.ANALYST)
    doc = make_account(other, "doc", Role.ANALYST)
    nurse = make_account(other, "nurse", Role.PARTNER)  # not a reader of case notes
    ngo_case = shared_case(runtime, ana.uuid, "medical", transfer, "out")
    medical_case = shared_case(other, doc.uuid, "ngo", transfer, "in")
    ngo_client, doc_client = _client(runtime, ana), _client(other, doc)
    _client(other, nurse)
    ana_fpr, doc_fpr = _fingerprint(runtime, ana), _fingerprint(other, doc)

    # Each publishes its readers to the other: the analysts, not the partner account.
    out = _through(medical_env, ngo_env, "send-readers", "--to", "ngo")
    assert "readers version" in out and ": 1 keys" in out and "\taccepted" in out
    out = _through(ngo_env, medical_env, "send-readers", "--all")
    assert "\taccepted" in out
    with runtime.session() as db:
        assert list(db.scalars(select(PeerReaderKey.fingerprint))) == [doc_fpr]
        peer = db.scalars(select(FederationPeer)).one()
        assert peer.readers_version is not None
    with other.session() as db:
        assert list(db.scalars(select(PeerReaderKey.fingerprint))) == [ana_fpr]

    # NGO -> medical: sealed to the partner's submission key and its analyst.
    _write(ngo_client, ngo_case, transfer, TO_MEDICAL)
    with runtime.session() as db:
        outgoing = db.scalars(select(CaseMessage)).one().outgoing
    assert outgoing is not None and len(pkesk_key_ids(outgoing)) == 2
    out = _through(ngo_env, medical_env, "send-messages")
    assert "\taccepted" in out
    with other.session() as db:
        received = db.scalars(select(CaseMessage)).one()
        assert received.direction == "in"
        assert received.recipients == ",".join(sorted([doc_fpr, medical_key.fingerprint]))
    page = doc_client.get(f"/cases/{medical_case}/partner-messages").get_data(as_text=True)
    assert 'class="partner-message in"' in page and TO_MEDICAL in page
    # The partner account reads no case thread at all; the workstation still opens it.
    medical_ws = GpgKeyring(medical_home, server=False)
    assert medical_ws.open_bytes(received.ciphertext, SUBMISSION_PASSPHRASE) == TO_MEDICAL.encode()

    # medical -> NGO, the other way.
    _write(doc_client, medical_case, transfer, TO_NGO)
    out = _through(medical_env, ngo_env, "send-messages")
    assert "\taccepted" in out
    page = ngo_client.get(f"/cases/{ngo_case}/partner-messages").get_data(as_text=True)
    assert TO_NGO in page and TO_MEDICAL in page
    with runtime.session() as db:
        theirs = db.scalars(select(CaseMessage).where(CaseMessage.direction == "in")).one()
        assert theirs.recipients == ",".join(sorted([ana_fpr, submission_key[0].fingerprint]))
    # A reader who joined since: not sealed to her key, until a reader it is sealed to
    # opens the thread and it is sealed again to the current readers, as notes are.
    bob = make_account(runtime, "bob", Role.ANALYST)
    bob_client = _client(runtime, bob)
    thread = f"/cases/{ngo_case}/partner-messages"
    page = bob_client.get(thread).get_data(as_text=True)
    assert TO_NGO not in page and "read it on the workstation" in page
    assert TO_NGO in ngo_client.get(thread).get_data(as_text=True)
    assert TO_NGO in bob_client.get(thread).get_data(as_text=True)
    with runtime.session() as db:
        theirs = db.scalars(select(CaseMessage).where(CaseMessage.direction == "in")).one()
        assert _fingerprint(runtime, bob) in (theirs.recipients or "")
        assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "case_message_resealed"))

    # Straight to the NGO's endpoint, signed by the partner: what is refused.
    signing = load_identity(other.config.instance_dir / "federation").signing
    endpoint = Client(create_endpoint(ngo_env))

    def post(kind: str, body: dict[str, Any]) -> tuple[int, object]:
        _i, raw = seal_envelope(signing, kind=kind, recipient=ngo_card.fingerprint, body=body)
        answer = endpoint.post("/v1/envelope", data=raw, content_type="application/json")
        return answer.status_code, answer.json

    scratch = GpgKeyring(tmp_path / "scratch-gnupg")
    try:
        one = scratch.generate_reply_key("stranger one", "x" * 32)
        two = scratch.generate_reply_key("stranger two", "x" * 32)
        one_key = scratch.export_public(one)
        signer = _sign_only_key(tmp_path / "sign-only")
        refused = (403, {"refused": "body"})
        with runtime.session() as db:
            kept = db.scalars(select(FederationPeer)).one().readers_version or 0
        good = {"fingerprint": one, "key": one_key}
        for keys in (
            [{**good, "fingerprint": two}],  # not the key its fingerprint names
            [{**good, "key": one_key + one_key}],  # two blocks
            [{**good, "key": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n=====\n"
              "-----END PGP PUBLIC KEY BLOCK-----"}],  # unreadable
            [signer],  # cannot encrypt
            [good, good],  # twice
        ):  # fmt: skip
            assert post(READERS, {"version": kept + 10, "keys": keys}) == refused
        assert post(READERS, {"version": kept, "keys": [good]}) == refused  # not newer
        assert post(READERS, {"version": "1", "keys": []}) == refused
        with runtime.session() as db:
            assert list(db.scalars(select(PeerReaderKey.fingerprint))) == [doc_fpr]

        # A message sealed to two keys the NGO does not know, besides its own.
        sealed = scratch.seal_bytes(b"elsewhere", [one, two])
        body = {
            "transfer": transfer,
            "message": secrets.token_hex(16),
            "ciphertext": base64.b64encode(sealed).decode(),
            "created": "2026-12-06T10:00:00Z",
        }
        assert post(CASE_MESSAGE, body) == refused
        # A newer, well-formed set replaces the one kept.
        assert post(READERS, {"version": kept + 20, "keys": [good]})[0] == 200
        with runtime.session() as db:
            assert list(db.scalars(select(PeerReaderKey.fingerprint))) == [one]
            refusals = db.scalars(
                select(AuditEvent).where(AuditEvent.action == "federation_refused")
            ).all()
            assert len(refusals) == 8
            assert db.scalar(
                select(AuditEvent.id).where(AuditEvent.action == "federation_readers_received")
            )
    finally:
        kill_agent(scratch.home)

    files = [
        p
        for root in (runtime.config.instance_dir, other.config.instance_dir)
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("S.")
    ]
    assert_no_leak(
        [TO_MEDICAL, TO_NGO, "MARKER-rdr"],
        engine=[runtime.engine, other.engine],
        redis=runtime.redis,
        files=files,
    )


def _sign_only_key(home: Path) -> dict[str, str]:
    """An ed25519 key with no encryption subkey, as a reader entry."""
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    subprocess.run(
        [*gpg, "--passphrase", "", "--quick-gen-key", "sign only", "ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        [*gpg, "--with-colons", "--list-keys"], check=True, capture_output=True, text=True
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    armored = subprocess.run(
        [*gpg, "--armor", "--export", fingerprint], check=True, capture_output=True, text=True
    ).stdout
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
    return {"fingerprint": fingerprint, "key": armored}
