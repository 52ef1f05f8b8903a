"""Peer instances and the record of what passed between us (docs/federation.md).

The transport and the cryptography live in the `federation` package; here is what is
stored and audited. Every event holds identifiers only: a peer's uuid, an envelope's
random id, its kind, a fixed refusal reason, the uuid of what it carried.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import NotFoundError, VaultError
from vault.models import FederationExchange, FederationPeer
from vault.services.audit import record, record_refusal

__all__ = [
    "PeerError",
    "add_peer",
    "claim_received",
    "get_peer",
    "list_peers",
    "peer_by_fingerprint",
    "prune_received_ids",
    "record_received",
    "record_refused",
    "record_sent",
    "remove_peer",
    "was_received",
]


class PeerError(VaultError):
    """A peer could not be added or removed as asked."""


def get_peer(db: Session, name: str) -> FederationPeer:
    peer = db.scalar(select(FederationPeer).where(FederationPeer.name == name))
    if peer is None:
        raise NotFoundError(f"no peer named {name!r}")
    return peer


def peer_by_fingerprint(db: Session, fingerprint: str) -> FederationPeer | None:
    return db.scalar(select(FederationPeer).where(FederationPeer.fingerprint == fingerprint))


def list_peers(db: Session, *, removed: bool = False) -> Sequence[FederationPeer]:
    query = select(FederationPeer).order_by(FederationPeer.name)
    if not removed:
        query = query.where(FederationPeer.removed_at.is_(None))
    return list(db.scalars(query))


def add_peer(
    db: Session,
    *,
    name: str,
    fingerprint: str,
    onion: str,
    verify_key: str,
    client_auth_public: str,
    release_key: str | None,
    release_fingerprint: str | None,
) -> FederationPeer:
    """Trust a peer instance (the caller has checked `verify_key` against `fingerprint`).

    A peer removed before may be added again (its keys as given now): the row is the
    same, so past exchanges keep their peer. Audited; the caller commits."""
    fingerprint = fingerprint.upper()
    peer = peer_by_fingerprint(db, fingerprint)
    if peer is not None and peer.active:
        raise PeerError(f"this fingerprint is already peer {peer.name!r}")
    named = db.scalar(select(FederationPeer).where(FederationPeer.name == name))
    if named is not None and named is not peer:
        raise PeerError(f"a peer named {name!r} exists already")
    if peer is None:
        peer = FederationPeer(uuid=str(uuid.uuid4()), fingerprint=fingerprint)
        db.add(peer)
    peer.name = name
    peer.onion = onion
    peer.verify_key = verify_key
    peer.client_auth_public = client_auth_public
    peer.release_key = release_key
    peer.release_fingerprint = release_fingerprint.upper() if release_fingerprint else None
    peer.added_at = utcnow()
    peer.removed_at = None
    db.flush()
    record(
        db,
        None,
        "federation_peer_added",
        "federation_peer",
        peer.uuid,
        {"peer": peer.uuid, "fingerprint": fingerprint},
    )
    return peer


def remove_peer(db: Session, name: str) -> FederationPeer:
    """Revoke a peer: its envelopes are refused from now on. Audited."""
    peer = get_peer(db, name)
    if not peer.active:
        raise PeerError(f"peer {name!r} was removed already")
    peer.removed_at = utcnow()
    record(db, None, "federation_peer_removed", "federation_peer", peer.uuid, {"peer": peer.uuid})
    return peer


def was_received(db: Session, envelope_id: str) -> bool:
    return (
        db.scalar(
            select(FederationExchange.id).where(
                FederationExchange.direction == "in", FederationExchange.envelope_id == envelope_id
            )
        )
        is not None
    )


def prune_received_ids(db: Session, older_than: dt.datetime) -> int:
    """Drop the ids of incoming envelopes created before `older_than` (the row stays:
    kind, peer, dates, outcome, what it carried); how many. An id only refuses a replay
    while the envelope's date would not: `older_than` must lie before the accepted
    window (federation.envelope.WINDOW). The audit log keeps each id (its
    `federation_received` event). Audited when some were dropped."""
    cutoff = older_than.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # `created` is the envelope's own date in this fixed form: text order is time order.
    result = db.execute(
        update(FederationExchange)
        .where(
            FederationExchange.direction == "in",
            FederationExchange.envelope_id.is_not(None),
            FederationExchange.created < cutoff,
        )
        .values(envelope_id=None)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        record(db, None, "federation_ids_pruned", None, None, {"count": count, "before": cutoff})
    return count


def claim_received(
    db: Session, peer: FederationPeer, envelope_id: str, kind: str, created: str
) -> FederationExchange | None:
    """Record an incoming envelope before its body is handled; None when another
    request holds the same id (a replay racing the original): the unique constraint
    decides, in a savepoint so the caller's transaction goes on."""
    exchange = FederationExchange(
        envelope_id=envelope_id,
        direction="in",
        peer=peer,
        kind=kind,
        created=created,
        outcome="accepted",
    )
    try:
        with db.begin_nested():
            db.add(exchange)
            db.flush()
    except IntegrityError:
        return None
    return exchange


def record_received(db: Session, exchange: FederationExchange, object_uuid: str | None) -> None:
    exchange.object_uuid = object_uuid
    record(
        db,
        None,
        "federation_received",
        "federation_peer",
        exchange.peer.uuid,
        {
            "peer": exchange.peer.uuid,
            "envelope": exchange.envelope_id,
            "kind": exchange.kind,
            "object": object_uuid,
        },
    )


def record_refused(db: Session, peer: FederationPeer | None, reason: str) -> None:
    """An incoming envelope refused: kept through the rollback of the request."""
    detail: dict[str, str | None] = {"refusal": reason}
    if peer is not None:
        detail["peer"] = peer.uuid
    record_refusal(
        db,
        None,
        "federation_refused",
        "federation_peer",
        peer.uuid if peer is not None else None,
        detail,
    )


def record_sent(
    db: Session,
    peer: FederationPeer,
    *,
    envelope_id: str,
    kind: str,
    created: str,
    object_uuid: str | None,
    outcome: str,
) -> None:
    """An envelope we sent: `outcome` "accepted", "refused:<reason>" (the peer's word)
    or "undelivered" (it never got an answer)."""
    if outcome == "accepted":
        db.add(
            FederationExchange(
                envelope_id=envelope_id,
                direction="out",
                peer=peer,
                kind=kind,
                created=created,
                outcome=outcome,
                object_uuid=object_uuid,
            )
        )
    record(
        db,
        None,
        "federation_sent" if outcome == "accepted" else "federation_send_failed",
        "federation_peer",
        peer.uuid,
        {
            "peer": peer.uuid,
            "envelope": envelope_id,
            "kind": kind,
            "object": object_uuid,
            "outcome": outcome,
        },
    )
