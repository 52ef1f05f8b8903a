"""Signed envelopes: what is accepted, and each reason one is refused (pure logic)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from federation.envelope import (
    REFUSAL_REASONS,
    WINDOW,
    Envelope,
    PeerKey,
    open_envelope,
    seal_envelope,
)
from federation.errors import EnvelopeRefusedError
from keys.receipts import SigningKey, canonical

NOW = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def sender(tmp_path: Path) -> SigningKey:
    return SigningKey.generate(tmp_path / "sender.pem")


@pytest.fixture
def receiver(tmp_path: Path) -> SigningKey:
    return SigningKey.generate(tmp_path / "receiver.pem")


def _open(
    raw: bytes,
    receiver: SigningKey,
    peers: dict[str, PeerKey],
    seen: set[str] | None = None,
    now: dt.datetime = NOW,
    max_bytes: int = 1 << 20,
) -> Envelope:
    return open_envelope(
        raw,
        recipient=receiver.fingerprint,
        peer=peers.get,
        seen=(seen or set()).__contains__,
        now=now,
        max_bytes=max_bytes,
    )


def _refusal(raw: bytes, receiver: SigningKey, peers: dict[str, PeerKey], **kw: object) -> str:
    with pytest.raises(EnvelopeRefusedError) as caught:
        _open(raw, receiver, peers, **kw)  # type: ignore[arg-type]
    assert caught.value.reason in REFUSAL_REASONS
    return caught.value.reason


def _peers(*keys: SigningKey, revoked: bool = False) -> dict[str, PeerKey]:
    return {k.fingerprint: PeerKey(k.fingerprint, k.verify_key, revoked) for k in keys}


def _seal(sender: SigningKey, receiver: SigningKey, **kw: object) -> tuple[str, bytes]:
    return seal_envelope(
        sender,
        kind="release",
        recipient=receiver.fingerprint,
        body={"document": "ZG9j", "signature": "c2ln"},
        now=kw.pop("now", NOW),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_a_sealed_envelope_opens_with_every_field(sender: SigningKey, receiver: SigningKey) -> None:
    envelope_id, raw = _seal(sender, receiver)
    opened = _open(raw, receiver, _peers(sender))
    assert opened.id == envelope_id and len(envelope_id) == 32
    assert opened.kind == "release"
    assert opened.sender == sender.fingerprint
    assert opened.recipient == receiver.fingerprint
    assert opened.created == NOW
    assert opened.body == {"document": "ZG9j", "signature": "c2ln"}
    # The signature covers the canonical envelope, checkable with the public key alone.
    wire = json.loads(raw)
    assert sender.verify_key.verify(
        base64.b64decode(wire["signature"]), canonical(wire["envelope"])
    )


def test_ids_are_random(sender: SigningKey, receiver: SigningKey) -> None:
    assert _seal(sender, receiver)[0] != _seal(sender, receiver)[0]


def test_unknown_sender_refused(sender: SigningKey, receiver: SigningKey) -> None:
    _id, raw = _seal(sender, receiver)
    assert _refusal(raw, receiver, {}) == "unknown_sender"


def test_revoked_sender_refused(sender: SigningKey, receiver: SigningKey) -> None:
    _id, raw = _seal(sender, receiver)
    assert _refusal(raw, receiver, _peers(sender, revoked=True)) == "revoked_sender"


def test_changed_body_is_forged(sender: SigningKey, receiver: SigningKey) -> None:
    _id, raw = _seal(sender, receiver)
    wire = json.loads(raw)
    wire["envelope"]["body"]["document"] = "ZG9k"
    assert _refusal(json.dumps(wire).encode(), receiver, _peers(sender)) == "forged"


def test_signed_by_another_key_claiming_a_peer_is_forged(
    sender: SigningKey, receiver: SigningKey, tmp_path: Path
) -> None:
    impostor = SigningKey.generate(tmp_path / "impostor.pem")
    _id, raw = _seal(impostor, receiver)
    wire = json.loads(raw)
    wire["envelope"]["from"] = sender.fingerprint  # claims to be the peer
    assert _refusal(json.dumps(wire).encode(), receiver, _peers(sender)) == "forged"


def test_meant_for_another_instance(
    sender: SigningKey, receiver: SigningKey, tmp_path: Path
) -> None:
    other = SigningKey.generate(tmp_path / "other.pem")
    _id, raw = _seal(sender, other)
    assert _refusal(raw, receiver, _peers(sender)) == "wrong_recipient"


def test_already_seen_is_a_replay(sender: SigningKey, receiver: SigningKey) -> None:
    envelope_id, raw = _seal(sender, receiver)
    assert _refusal(raw, receiver, _peers(sender), seen={envelope_id}) == "replay"


@pytest.mark.parametrize(
    "shift", [WINDOW + dt.timedelta(seconds=1), -WINDOW - dt.timedelta(seconds=1)]
)
def test_outside_the_window_is_expired(
    sender: SigningKey, receiver: SigningKey, shift: dt.timedelta
) -> None:
    _id, raw = _seal(sender, receiver, now=NOW - shift)
    assert _refusal(raw, receiver, _peers(sender)) == "expired"


def test_at_the_edge_of_the_window_accepted(sender: SigningKey, receiver: SigningKey) -> None:
    _id, raw = _seal(sender, receiver, now=NOW - WINDOW)
    assert _open(raw, receiver, _peers(sender)).created == NOW - WINDOW


def test_too_large_refused_before_parsing(sender: SigningKey, receiver: SigningKey) -> None:
    _id, raw = _seal(sender, receiver)
    assert _refusal(raw, receiver, _peers(sender), max_bytes=len(raw) - 1) == "too_large"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"envelope": {}, "signature": ""}',
        b'{"envelope": 1, "signature": "AA=="}',
        b"\xff\xfe",
    ],
)
def test_not_an_envelope_is_malformed(raw: bytes, receiver: SigningKey) -> None:
    assert _refusal(raw, receiver, {}) == "malformed"


def test_extra_field_duplicate_key_or_float_malformed(
    sender: SigningKey, receiver: SigningKey
) -> None:
    _id, raw = _seal(sender, receiver)
    wire = json.loads(raw)
    extra = json.loads(raw)
    extra["envelope"]["note"] = "x"
    assert _refusal(json.dumps(extra).encode(), receiver, _peers(sender)) == "malformed"
    floated = json.loads(raw)
    floated["envelope"]["body"]["n"] = 1.5
    assert _refusal(json.dumps(floated).encode(), receiver, _peers(sender)) == "malformed"
    text = raw.decode()
    duplicated = text.replace('"kind":"release"', '"kind":"release","kind":"other"')
    assert duplicated != text
    assert _refusal(duplicated.encode(), receiver, _peers(sender)) == "malformed"
    assert wire["envelope"]["kind"] == "release"


def test_seal_refuses_a_partial_fingerprint(sender: SigningKey) -> None:
    with pytest.raises(ValueError, match="whole fingerprint"):
        seal_envelope(sender, kind="release", recipient="ABCD", body={})
