"""Signed envelopes between instances: pure logic, no database, no network.

An envelope is the canonical JSON (sorted keys, no spaces, UTF-8: `keys.receipts.
canonical`) of

    {"kind": "release", "from": SENDER_FPR, "to": RECIPIENT_FPR,
     "id": 32 random hex digits, "created": "2026-12-06T11:12:13Z", "body": {...}}

signed with the sender's Ed25519 federation key; on the wire it travels as
{"envelope": {...}, "signature": base64}. The receiver refuses it, with one fixed
reason each (REFUSAL_REASONS), when it is too large, not such an object, from a key
that is no peer, from a peer removed, not signed by the key it claims, meant for
another instance, created outside the accepted window, or already received.

The checks run in that order: nothing an envelope claims is believed before its
signature checks out, so a forger learns only "forged" (or that the key is unknown).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from federation.errors import EnvelopeRefusedError
from keys.receipts import SigningKey, VerifyKey, canonical

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "PRUNE_AFTER",
    "REFUSAL_REASONS",
    "WINDOW",
    "Envelope",
    "PeerKey",
    "open_envelope",
    "seal_envelope",
]

# A release is at most 4 MiB (vault.services.releases.MAX_RELEASE_BYTES), base64 adds a
# third; the rest is the envelope and the signature.
MAX_ENVELOPE_BYTES = 6 * 1024 * 1024
# How far `created` may be from the receiver's clock, either way. Envelope ids are kept
# (until PRUNE_AFTER), so a replay inside the window is refused too; outside it, by its
# date.
WINDOW = dt.timedelta(minutes=10)
# Once an envelope is older than this, its id no longer needs keeping to refuse its
# replay: its date does (`backupctl federation prune`). Far beyond WINDOW, so that a
# clock set back by less than a day cannot let a replay in.
PRUNE_AFTER = dt.timedelta(days=1)
REFUSAL_REASONS = (
    "too_large",
    "malformed",
    "unknown_sender",
    "revoked_sender",
    "forged",
    "wrong_recipient",
    "expired",
    "replay",
    "unknown_kind",
    "body",
)
_FPR = re.compile(r"^[0-9A-F]{64}$")
_ID = re.compile(r"^[0-9a-f]{32}$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_FIELDS = {"kind", "from", "to", "id", "created", "body"}


@dataclass(frozen=True)
class Envelope:
    kind: str
    sender: str
    recipient: str
    id: str
    created: dt.datetime
    body: dict[str, Any]


@dataclass(frozen=True)
class PeerKey:
    """What the receiver knows of a sender: its key, and whether it was removed."""

    fingerprint: str
    verify_key: VerifyKey
    revoked: bool = False


def _created_text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seal_envelope(
    key: SigningKey,
    *,
    kind: str,
    recipient: str,
    body: Mapping[str, Any],
    now: dt.datetime | None = None,
    envelope_id: str | None = None,
) -> tuple[str, bytes]:
    """(envelope id, the bytes to send): `body` for `recipient`, signed by `key`."""
    if not _KIND.fullmatch(kind):
        raise ValueError(f"invalid envelope kind {kind!r}")
    if not _FPR.fullmatch(recipient):
        raise ValueError("the recipient is a whole fingerprint (64 hex digits)")
    envelope = {
        "kind": kind,
        "from": key.fingerprint,
        "to": recipient,
        "id": envelope_id or secrets.token_hex(16),
        "created": _created_text(now or dt.datetime.now(dt.UTC)),
        "body": dict(body),
    }
    signature = base64.b64encode(key.sign(canonical(envelope))).decode("ascii")
    wire = {"envelope": envelope, "signature": signature}
    return str(envelope["id"]), json.dumps(wire, sort_keys=True, separators=(",", ":")).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _v in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_float(text: str) -> Any:
    # Floats have no single canonical form: the signed bytes must be re-derivable.
    raise ValueError("no floats in an envelope")


def _refuse(reason: str, message: str) -> EnvelopeRefusedError:
    return EnvelopeRefusedError(reason, message)


def _parse(raw: bytes) -> tuple[dict[str, Any], bytes]:
    try:
        wire = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_float=_no_float
        )
        envelope, signature = wire["envelope"], wire["signature"]
        if set(wire) != {"envelope", "signature"} or not isinstance(signature, str):
            raise ValueError("not an envelope")
        if not isinstance(envelope, dict) or set(envelope) != _FIELDS:
            raise ValueError("not an envelope")
        if not all(isinstance(envelope[f], str) for f in _FIELDS - {"body"}):
            raise ValueError("not an envelope")
        if not isinstance(envelope["body"], dict):
            raise ValueError("not an envelope")
        if not _FPR.fullmatch(envelope["from"]) or not _ID.fullmatch(envelope["id"]):
            raise ValueError("not an envelope")
        if not _KIND.fullmatch(envelope["kind"]) or not _CREATED.fullmatch(envelope["created"]):
            raise ValueError("not an envelope")
        return envelope, base64.b64decode(signature, validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise _refuse("malformed", "not a federation envelope") from exc


def open_envelope(
    raw: bytes,
    *,
    recipient: str,
    peer: Callable[[str], PeerKey | None],
    seen: Callable[[str], bool],
    now: dt.datetime | None = None,
    window: dt.timedelta = WINDOW,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> Envelope:
    """The envelope in `raw`, if it may be accepted; EnvelopeRefusedError otherwise.

    `peer(fingerprint)`: the sender's key, or None for a key that is no peer;
    `seen(id)`: whether an envelope with this id was accepted before.
    """
    if len(raw) > max_bytes:
        raise _refuse("too_large", f"envelopes are at most {max_bytes} bytes")
    envelope, signature = _parse(raw)
    sender = peer(envelope["from"])
    if sender is None:
        raise _refuse("unknown_sender", "the sender is not a peer of this instance")
    if sender.revoked:
        raise _refuse("revoked_sender", "the sender was removed from this instance's peers")
    if not sender.verify_key.verify(signature, canonical(envelope)):
        raise _refuse("forged", "bad signature: changed, or not signed by the sender's key")
    if envelope["to"] != recipient:
        raise _refuse("wrong_recipient", "the envelope is meant for another instance")
    created = dt.datetime.strptime(envelope["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    if abs(current - created) > window:
        raise _refuse("expired", "the envelope was created outside the accepted window")
    if seen(envelope["id"]):
        raise _refuse("replay", "this envelope was received before")
    return Envelope(
        kind=envelope["kind"],
        sender=envelope["from"],
        recipient=envelope["to"],
        id=envelope["id"],
        created=created,
        body=envelope["body"],
    )
