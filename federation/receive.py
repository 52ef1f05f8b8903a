"""An envelope that arrived: checked against our peers, handed to its kind, recorded.

Every outcome is audited with identifiers only (vault.services.federation_peers): the
acceptance in the caller's transaction, a refusal so that it outlives its rollback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from federation.envelope import PeerKey, open_envelope
from federation.errors import EnvelopeRefusedError
from keys.errors import KeyOperationError
from keys.receipts import VerifyKey
from vault.models import FederationPeer
from vault.services import federation_peers

__all__ = ["Accepted", "Handler", "receive"]

# (session, the verified sender, the envelope's body) -> the uuid of what it became
# (a release's), or None. Raises EnvelopeRefusedError("body", ...) to refuse the body.
Handler = Callable[[Session, FederationPeer, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Accepted:
    envelope_id: str
    kind: str
    object_uuid: str | None


def receive(
    db: Session,
    raw: bytes,
    *,
    recipient: str,
    handlers: Mapping[str, Handler],
    now: dt.datetime | None = None,
) -> Accepted:
    """Accept `raw` from a peer, or raise EnvelopeRefusedError (audited). The caller
    commits (on a refusal: rolls back, the refusal's event is kept)."""
    claimed: list[FederationPeer] = []

    def lookup(fingerprint: str) -> PeerKey | None:
        peer = federation_peers.peer_by_fingerprint(db, fingerprint)
        if peer is None:
            return None
        claimed.append(peer)
        try:
            key = VerifyKey.from_pem(peer.verify_key)
        except KeyOperationError:
            return None
        return PeerKey(peer.fingerprint, key, revoked=not peer.active)

    try:
        envelope = open_envelope(
            raw,
            recipient=recipient,
            peer=lookup,
            seen=lambda envelope_id: federation_peers.was_received(db, envelope_id),
            now=now,
        )
        peer = claimed[-1]
        handler = handlers.get(envelope.kind)
        if handler is None:
            raise EnvelopeRefusedError("unknown_kind", "this instance takes no such envelope")
        created = envelope.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        exchange = federation_peers.claim_received(db, peer, envelope.id, envelope.kind, created)
        if exchange is None:
            raise EnvelopeRefusedError("replay", "this envelope was received before")
        object_uuid = handler(db, peer, envelope.body)
        federation_peers.record_received(db, exchange, object_uuid)
    except EnvelopeRefusedError as exc:
        # The peer the envelope claims to come from (authenticated only when the
        # refusal comes after the signature check).
        federation_peers.record_refused(db, claimed[-1] if claimed else None, exc.reason)
        raise
    return Accepted(envelope.id, envelope.kind, object_uuid)
