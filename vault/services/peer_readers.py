"""The readers of case messages an instance publishes to its peers (docs/federation.md,
"Messages on a shared case").

A message a peer writes on a case shared with us is sealed to our submission key and,
so that our analysts and admins read it in the reviewer interface as they read case
notes, to the public account keys of our readers of case notes: we publish those keys
in a `readers` envelope, signed with our federation identity like every envelope.

Our side: `publication` is the current set, as one versioned body
`{"version": N, "keys": [{"fingerprint", "key"}]}`; N is the time of publication in
microseconds, so a later publication always has a higher version without a table of
its own. `known_key_ids` names the keys a message to us may be sealed to.

Their side: `receive` keeps a peer's set in place of the previous one only when its
version is higher (an older one arriving late is refused). Each key must be one
well-formed OpenPGP public key with the fingerprint stated and a usable encryption
key; `inspect` (keys.public_keys, given by the caller: the domain runs no gpg) reads it.
`fingerprints_of` is whom a message to the peer is sealed to besides its submission key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vault.errors import VaultError
from vault.models import AccountKey, FederationPeer, PeerReaderKey, Reviewer, Role
from vault.services import audit

__all__ = [
    "MAX_KEY_CHARS",
    "MAX_READERS",
    "KeyFacts",
    "ReadersRefusedError",
    "fingerprints_of",
    "parse_body",
    "publication",
    "reader_keys",
    "receive",
]

MAX_READERS = 100
# An armored RSA-4096 key with a few signatures is under 8 KiB; an account key is far
# smaller. Anything larger is refused unread.
MAX_KEY_CHARS = 16 * 1024
_FPR = re.compile(r"^[0-9A-F]{40}$|^[0-9A-F]{64}$")
_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_END = "-----END PGP PUBLIC KEY BLOCK-----"


class ReadersRefusedError(VaultError):
    """A `readers` body that is not kept."""


@dataclass(frozen=True)
class KeyFacts:
    """What gpg read in one armored key block (keys.public_keys.PublicKeyInfo)."""

    fingerprint: str
    secret: bool
    key_ids: tuple[str, ...]
    encryption_ids: tuple[str, ...]


Inspect = Callable[[str], Sequence[KeyFacts]]


# -- pure parts ---------------------------------------------------------------------


def parse_body(body: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]]]:
    """(version, [(fingerprint, armored key)]) of a `readers` body, or
    ReadersRefusedError: exactly {version: a positive integer, keys: at most MAX_READERS
    of exactly {fingerprint: 40 or 64 upper-case hex digits, unique; key: one armored
    public key block, bounded}}. Whether each key is what it says is `receive`'s check."""
    if set(body) != {"version", "keys"}:
        raise ReadersRefusedError("a readers body holds exactly a version and keys")
    version, keys = body["version"], body["keys"]
    if type(version) is not int or not 0 < version < 2**63:
        raise ReadersRefusedError("the version is not a positive integer")
    if not isinstance(keys, list) or len(keys) > MAX_READERS:
        raise ReadersRefusedError(f"keys is a list of at most {MAX_READERS}")
    parsed: list[tuple[str, str]] = []
    for item in keys:
        if not isinstance(item, dict) or set(item) != {"fingerprint", "key"}:
            raise ReadersRefusedError("each reader is exactly a fingerprint and a key")
        fingerprint, key = item["fingerprint"], item["key"]
        if not isinstance(fingerprint, str) or not _FPR.fullmatch(fingerprint):
            raise ReadersRefusedError("a fingerprint is malformed")
        if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
            raise ReadersRefusedError("a key is not text, or too long")
        text = key.strip()
        if not text.startswith(_BEGIN) or not text.endswith(_END) or text.count(_BEGIN) != 1:
            raise ReadersRefusedError("a key is not one armored public key block")
        parsed.append((fingerprint, key))
    if len({f for f, _k in parsed}) != len(parsed):
        raise ReadersRefusedError("a fingerprint is listed twice")
    return version, parsed


def check_key(fingerprint: str, facts: Sequence[KeyFacts]) -> None:
    """ReadersRefusedError unless gpg read exactly one public key, the one stated, with
    a usable key that encrypts."""
    if len(facts) != 1:
        raise ReadersRefusedError("a key block does not hold exactly one key")
    (key,) = facts
    if key.secret:
        raise ReadersRefusedError("a key block holds a secret key")
    if key.fingerprint != fingerprint:
        raise ReadersRefusedError("a key is not the one its fingerprint names")
    if not key.encryption_ids:
        raise ReadersRefusedError("a key has no usable encryption key")


# -- our side -----------------------------------------------------------------------


def reader_keys(db: Session) -> list[tuple[str, str]]:
    """(fingerprint, armored public key) of our readers of case notes (active analysts
    and admins with an account key), as vault.services.notes seals notes to them."""
    rows = db.execute(
        select(AccountKey.fingerprint, AccountKey.public_key)
        .join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
        .where(Reviewer.is_active.is_(True), Reviewer.role.in_([Role.ANALYST, Role.ADMIN]))
        .order_by(AccountKey.fingerprint)
    ).all()
    return [(fpr.upper(), key) for fpr, key in rows if key]


def publication(db: Session, *, now_us: int | None = None) -> dict[str, Any]:
    """The `readers` body: our readers' public keys, versioned by the time (µs);
    ReadersRefusedError if there are more than a peer takes."""
    version = now_us if now_us is not None else time.time_ns() // 1000
    keys = [{"fingerprint": fpr, "key": key} for fpr, key in reader_keys(db)]
    if len(keys) > MAX_READERS:  # a peer would refuse the whole set
        raise ReadersRefusedError(f"more than {MAX_READERS} readers: peers take no more")
    audit.record(
        db,
        None,
        "federation_readers_published",
        None,
        None,
        detail={"version": version, "count": len(keys)},
    )
    return {"version": version, "keys": keys}


# -- their side ---------------------------------------------------------------------


def receive(db: Session, peer: FederationPeer, body: Mapping[str, Any], inspect: Inspect) -> int:
    """Keep `peer`'s readers in place of those kept, if newer and every key checks; the
    number kept, or ReadersRefusedError (the caller's transaction changes nothing)."""
    version, keys = parse_body(body)
    if peer.readers_version is not None and version <= peer.readers_version:
        raise ReadersRefusedError("not newer than the readers kept")
    for fingerprint, key in keys:
        check_key(fingerprint, inspect(key))
    db.execute(delete(PeerReaderKey).where(PeerReaderKey.peer_id == peer.id))
    for fingerprint, key in keys:
        db.add(PeerReaderKey(peer_id=peer.id, fingerprint=fingerprint, public_key=key))
    peer.readers_version = version
    db.flush()
    audit.record(
        db,
        None,
        "federation_readers_received",
        "federation_peer",
        peer.uuid,
        detail={"version": version, "count": len(keys)},
    )
    return len(keys)


def fingerprints_of(db: Session, peer: FederationPeer) -> list[str]:
    """The readers `peer` published (none once it is removed), sorted."""
    if not peer.active:
        return []
    return list(
        db.scalars(
            select(PeerReaderKey.fingerprint)
            .where(PeerReaderKey.peer_id == peer.id)
            .order_by(PeerReaderKey.fingerprint)
        )
    )
