"""Private-set-intersection messages carried between our air-gapped workstation and a
peer's (docs/observatory.md, "Federation"): what is kept and audited.

The messages are made, signed and read on the workstations; the server only carries
them. What the federation package checked (the document's form, the workstation
signature against the peer's pinned key) it hands here as bytes, with the document's
own id. Each is kept until it has gone on: an outgoing one until the peer accepts it,
an incoming one until an admin writes it out for our workstation; then its bytes are
dropped and the row stays as the record (ids, kind, peer, size, dates, outcome).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import VaultError
from vault.models import FederationPeer, PsiMessage
from vault.services import audit

__all__ = [
    "KINDS",
    "PsiRefusedError",
    "body_of",
    "pending",
    "queue",
    "receive",
    "record_outcome",
    "waiting",
    "written",
]

KINDS = ("psi_request", "psi_response")


class PsiRefusedError(VaultError):
    """A message that cannot be queued or taken in (here already, no such kind)."""


def _detail(message: PsiMessage) -> dict[str, str | int | None]:
    return {
        "peer": message.peer.uuid,
        "kind": message.kind,
        "message": message.message_id,
        "size": message.size,
        "envelope": message.envelope_id,
    }


def _keep(
    db: Session,
    peer: FederationPeer,
    *,
    direction: str,
    kind: str,
    message_id: str,
    document: bytes,
    signature: bytes,
    action: str,
) -> PsiMessage:
    """Add a message with its bytes (queued to go out, or received), audited as `action`.
    The unique constraint decides between two at once (a savepoint: the caller's
    transaction goes on to refuse it)."""
    if kind not in KINDS:
        raise PsiRefusedError(f"no such message kind {kind!r}")
    message = PsiMessage(
        direction=direction,
        peer=peer,
        kind=kind,
        message_id=message_id,
        document=document,
        signature=signature,
        size=len(document),
        outcome="queued" if direction == "out" else "received",
    )
    try:
        with db.begin_nested():
            db.add(message)
            db.flush()
    except IntegrityError as exc:
        raise PsiRefusedError("this message is here already") from exc
    audit.record(db, None, action, "federation_peer", peer.uuid, _detail(message))
    return message


def _done(db: Session, message: PsiMessage, outcome: str, action: str) -> None:
    """The message has gone on (to the peer, or to our workstation): its bytes dropped,
    the row kept as the record. Audited as `action`."""
    message.outcome = outcome[:32]
    message.document = message.signature = None
    message.done_at = utcnow()
    audit.record(db, None, action, "federation_peer", message.peer.uuid, _detail(message))


def queue(
    db: Session,
    peer: FederationPeer,
    *,
    kind: str,
    message_id: str,
    document: bytes,
    signature: bytes,
) -> PsiMessage:
    """Queue a message our workstation signed for `peer` (`send-psi` sends it)."""
    if not peer.active:
        raise PsiRefusedError(f"peer {peer.name!r} was removed")
    return _keep(
        db,
        peer,
        direction="out",
        kind=kind,
        message_id=message_id,
        document=document,
        signature=signature,
        action="federation_psi_queued",
    )


def pending(db: Session) -> Sequence[PsiMessage]:
    """Outgoing messages waiting, to peers not removed, oldest first."""
    return db.scalars(
        select(PsiMessage)
        .join(FederationPeer, FederationPeer.id == PsiMessage.peer_id)
        .where(
            PsiMessage.direction == "out",
            PsiMessage.outcome == "queued",
            FederationPeer.removed_at.is_(None),
        )
        .order_by(PsiMessage.id)
    ).all()


def body_of(message: PsiMessage) -> dict[str, Any]:
    """The envelope body: the signed document and its detached signature, base64."""
    if message.document is None or message.signature is None:
        raise PsiRefusedError("this message has gone already")
    return {
        "document": base64.b64encode(message.document).decode("ascii"),
        "signature": base64.b64encode(message.signature).decode("ascii"),
    }


def record_outcome(db: Session, message: PsiMessage, outcome: str, envelope_id: str) -> None:
    """After a delivery attempt: accepted or refused (its bytes dropped, never sent
    again); undelivered leaves it queued for the next run. Audited."""
    if outcome == "undelivered":
        return
    message.envelope_id = envelope_id
    action = "federation_psi_sent" if outcome == "accepted" else "federation_psi_refused"
    _done(db, message, outcome, action)


def receive(
    db: Session,
    peer: FederationPeer,
    *,
    kind: str,
    message_id: str,
    document: bytes,
    signature: bytes,
) -> str:
    """Keep a checked message `peer` sent, for our workstation; its id. The same
    message again (in a fresh envelope) is refused: PsiRefusedError."""
    _keep(
        db,
        peer,
        direction="in",
        kind=kind,
        message_id=message_id,
        document=document,
        signature=signature,
        action="federation_psi_received",
    )
    return message_id


def waiting(db: Session) -> Sequence[PsiMessage]:
    """Incoming messages not yet written out for the workstation, oldest first."""
    return db.scalars(
        select(PsiMessage)
        .where(PsiMessage.direction == "in", PsiMessage.outcome == "received")
        .order_by(PsiMessage.id)
    ).all()


def written(db: Session, message: PsiMessage) -> None:
    """The message was written out for the workstation: its bytes dropped. Audited."""
    _done(db, message, "written", "federation_psi_written")
