"""Receiving envelopes through the federation endpoint, on a real database (SQLite and
PostgreSQL), with real keys and a real release signed by gpg: peers added and removed
with `backupctl federation`, a release accepted and imported with the peer's release
key, and every refusal answered with its reason and audited."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.test import Client

from composition.runtime import Runtime
from federation.app import make_app
from federation.envelope import WINDOW, seal_envelope
from federation.identity import create_identity, load_identity
from federation.kinds import RELEASE
from keys.lifecycle import GeneratedKey, generate_submission_key
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.federation import PeerCard, add_peer, federation_cli, identity_card
from tests.support.releases import signed_release, tampered
from vault.models import AuditEvent, FederationExchange, FederationPeer, ObservatoryRelease

ONION = "a" * 56 + ".onion"


@pytest.fixture
def env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**cli_env, "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "onion")}


def _ngo_card(tmp_path: Path, release_key: str) -> tuple[PeerCard, Path]:
    """The sending instance's identity, made as its `identity --create` makes it."""
    home = tmp_path / "ngo-federation"
    ident = create_identity(home)
    key_file = tmp_path / "ngo.pem"
    key_file.write_text(ident.public_pem())
    release_file = tmp_path / "ngo-release.asc"
    release_file.write_text(release_key)
    card = PeerCard(ident.fingerprint, ONION, ident.client_auth.public_b32, key_file, release_file)
    return card, home


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _post(client: Client, raw: bytes) -> tuple[int, dict[str, object]]:
    response = client.post("/v1/envelope", data=raw, content_type="application/json")
    return response.status_code, json.loads(response.data)


def _refusals(runtime: Runtime) -> list[str]:
    with runtime.session() as db:
        details = db.scalars(
            select(AuditEvent.detail)
            .where(AuditEvent.action == "federation_refused")
            .order_by(AuditEvent.seq)
        )
        return [json.loads(d or "{}")["refusal"] for d in details]


def test_peer_release_accepted_and_every_refusal_has_its_reason(
    runtime: Runtime,
    env: dict[str, str],
    tmp_path: Path,
    submission_key: tuple[GeneratedKey, Path],
) -> None:
    ours = identity_card(env, tmp_path / "ours", submission_key[0].public_armored)
    assert len(ours.fingerprint) == 64
    card, ngo_home = _ngo_card(tmp_path, submission_key[0].public_armored)
    ngo = load_identity(ngo_home).signing

    # A fingerprint that is not the key's: refused, nothing stored.
    result = federation_cli(
        env, "peer", "add", "--name", "ngo", "--fingerprint", ours.fingerprint,
        "--onion", ONION, "--key", str(card.key_file), "--client-auth", card.client_auth,
        ok=False,
    )  # fmt: skip
    assert result.exit_code != 0 and "REFUSED" in result.output
    # A shortened fingerprint is no fingerprint.
    short = federation_cli(
        env, "peer", "add", "--name", "ngo", "--fingerprint", card.fingerprint[:40],
        "--onion", ONION, "--key", str(card.key_file), "--client-auth", card.client_auth,
        ok=False,
    )  # fmt: skip
    assert short.exit_code != 0
    with runtime.session() as db:
        assert db.scalar(select(FederationPeer.id)) is None

    add_peer(env, "ngo", card)
    listed = federation_cli(env, "peer", "list").output
    assert "ngo" in listed and card.fingerprint in listed and "active" in listed
    services = tmp_path / "onion"
    assert (services / "federation/authorized_clients/ngo.auth").read_text() == (
        f"descriptor:x25519:{card.client_auth}\n"
    )
    held = services / "federation_clients/ngo.auth_private"
    assert held.read_text().startswith(ONION.removesuffix(".onion") + ":descriptor:x25519:")
    assert held.stat().st_mode & 0o077 == 0
    # What opens the peer's service to us is our own private client key.
    our_client = load_identity(Path(env["BACKUP_INSTANCE_DIR"]) / "federation").client_auth
    assert held.read_text().strip().endswith(":" + our_client.private_b32)
    assert our_client.public_b32 == ours.client_auth

    client = Client(make_app(runtime.session_factory, ours.fingerprint))
    _document, data, signature = signed_release(submission_key)
    body = {"document": _b64(data), "signature": _b64(signature)}
    envelope_id, raw = seal_envelope(ngo, kind=RELEASE, recipient=ours.fingerprint, body=body)
    status, answer = _post(client, raw)
    assert status == 200, answer
    assert answer["accepted"] == envelope_id
    with runtime.session() as db:
        release = db.scalar(select(ObservatoryRelease))
        assert release is not None and answer["object"] == release.uuid
        assert release.document == data
        assert release.signer_fingerprint == submission_key[0].fingerprint
        exchange = db.scalar(select(FederationExchange))
        assert exchange is not None
        assert (exchange.direction, exchange.envelope_id) == ("in", envelope_id)
        received = db.scalar(select(AuditEvent).where(AuditEvent.action == "federation_received"))
        assert received is not None and envelope_id in (received.detail or "")

    # The same bytes again: a replay.
    assert _post(client, raw) == (403, {"refused": "replay"})
    # Changed after signing: forged.
    wire = json.loads(raw)
    wire["envelope"]["id"] = "0" * 32
    assert _post(client, json.dumps(wire).encode()) == (403, {"refused": "forged"})
    # A key we never added.
    stranger = create_identity(tmp_path / "stranger").signing
    _i, raw = seal_envelope(stranger, kind=RELEASE, recipient=ours.fingerprint, body=body)
    assert _post(client, raw) == (403, {"refused": "unknown_sender"})
    # Meant for another instance.
    _i, raw = seal_envelope(ngo, kind=RELEASE, recipient=stranger.fingerprint, body=body)
    assert _post(client, raw) == (403, {"refused": "wrong_recipient"})
    # Created outside the window.
    old = dt.datetime.now(dt.UTC) - WINDOW - dt.timedelta(minutes=1)
    _i, raw = seal_envelope(ngo, kind=RELEASE, recipient=ours.fingerprint, body=body, now=old)
    assert _post(client, raw) == (403, {"refused": "expired"})
    # A kind nobody handles.
    _i, raw = seal_envelope(ngo, kind="gossip", recipient=ours.fingerprint, body={})
    assert _post(client, raw) == (403, {"refused": "unknown_kind"})
    # A release its signature does not cover: the body is refused, nothing imported.
    forged_body = {"document": _b64(tampered(_document)), "signature": _b64(signature)}
    _i, raw = seal_envelope(ngo, kind=RELEASE, recipient=ours.fingerprint, body=forged_body)
    assert _post(client, raw) == (403, {"refused": "body"})
    # A release signed by another organisation's key than the peer's release key.
    other_key = generate_submission_key(
        tmp_path / "other-ws" / "gnupg", SUBMISSION_PASSPHRASE, name="Other"
    )
    _d, data2, signature2 = signed_release((other_key, tmp_path / "other-ws" / "gnupg"))
    other_body = {"document": _b64(data2), "signature": _b64(signature2)}
    _i, raw = seal_envelope(ngo, kind=RELEASE, recipient=ours.fingerprint, body=other_body)
    assert _post(client, raw) == (403, {"refused": "body"})
    # Too large: refused before it is read.
    big = make_app(runtime.session_factory, ours.fingerprint, max_bytes=100)
    response = Client(big).post("/v1/envelope", data=b"x" * 101)
    assert response.status_code == 413

    federation_cli(env, "peer", "remove", "ngo")
    assert not (services / "federation/authorized_clients/ngo.auth").exists()
    assert not held.exists()
    assert "ngo" not in federation_cli(env, "peer", "list").output
    assert "removed" in federation_cli(env, "peer", "list", "--all").output
    _i, raw = seal_envelope(ngo, kind=RELEASE, recipient=ours.fingerprint, body=body)
    assert _post(client, raw) == (403, {"refused": "revoked_sender"})

    assert _refusals(runtime) == [
        "replay",
        "forged",
        "unknown_sender",
        "wrong_recipient",
        "expired",
        "unknown_kind",
        "body",
        "body",
        "too_large",
        "revoked_sender",
    ]
    with runtime.session() as db:
        assert (
            db.scalar(select(ObservatoryRelease.id).where(ObservatoryRelease.id > release.id))
            is None
        )
        actions = set(db.scalars(select(AuditEvent.action)))
    assert {"federation_peer_added", "federation_peer_removed"} <= actions
