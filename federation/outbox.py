"""Sending: seal an envelope for each peer, deliver it, record and audit the outcome."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from federation.client import deliver
from federation.envelope import REFUSAL_REASONS, seal_envelope
from federation.errors import DeliveryError, FederationError
from federation.identity import Identity
from vault.models import FederationPeer
from vault.services import federation_peers

__all__ = ["Outcome", "send"]


@dataclass(frozen=True)
class Outcome:
    peer: str  # the peer's name
    envelope_id: str
    outcome: str  # "accepted", "refused:<reason>", "undelivered"


def send(
    db: Session,
    identity: Identity,
    peers: Sequence[FederationPeer],
    *,
    kind: str,
    body: Mapping[str, Any],
    object_uuid: str | None,
    socks: tuple[str, int] | None,
    timeout: float,
    wait: float = 0.0,
) -> list[Outcome]:
    """One envelope per peer (each its own id, addressed to that peer's fingerprint);
    every outcome audited in `db` (the caller commits)."""
    if socks is None:
        raise FederationError("BACKUP_FEDERATION_SOCKS is not set: no way to reach peers")
    outcomes = []
    for peer in peers:
        if not peer.active:
            raise FederationError(f"peer {peer.name!r} was removed")
        now = dt.datetime.now(dt.UTC)
        envelope_id, payload = seal_envelope(
            identity.signing, kind=kind, recipient=peer.fingerprint, body=body, now=now
        )
        try:
            answer = deliver(socks, peer.onion, payload, timeout=timeout, wait=wait)
        except DeliveryError:
            outcome = "undelivered"
        else:
            # The peer's words reach our audit log only as one of the fixed reasons.
            reason = answer.reason if answer.reason in REFUSAL_REASONS else answer.status
            outcome = "accepted" if answer.accepted else f"refused:{reason}"
        federation_peers.record_sent(
            db,
            peer,
            envelope_id=envelope_id,
            kind=kind,
            created=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            object_uuid=object_uuid,
            outcome=outcome[:32],
        )
        outcomes.append(Outcome(peer.name, envelope_id, outcome))
    return outcomes
