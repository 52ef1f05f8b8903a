"""Peer instances and the envelopes exchanged with them (docs/federation.md).

Clear at rest, by design (docs/threat-model.md): each peer's name (chosen by the
admin), onion address, public keys and fingerprints, and, per envelope, its random id,
kind, direction, peer, dates, outcome and the id of what it carried (a release uuid).
No body is kept here: what a body carries is stored by its kind's own table (a
release: observatory_releases)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow


class FederationPeer(Base):
    __tablename__ = "federation_peers"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # SHA-256 of the peer's Ed25519 federation public key (64 hex digits, upper case).
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    onion: Mapped[str] = mapped_column(String(62))
    verify_key: Mapped[str] = mapped_column(Text)  # PEM
    # The x25519 public half the peer's tor presents to our federation service.
    client_auth_public: Mapped[str] = mapped_column(String(52))
    # The OpenPGP key the peer's releases are signed with (its submission public key).
    release_key: Mapped[str | None] = mapped_column(Text)
    release_fingerprint: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set by `peer remove`: the row stays so that the peer is refused by name, not as a
    # stranger, and the exchanges keep their peer.
    removed_at: Mapped[dt.datetime | None]

    @property
    def active(self) -> bool:
        return self.removed_at is None


class FederationExchange(Base):
    """One envelope accepted from a peer (`in`) or delivered to one (`out`)."""

    __tablename__ = "federation_exchanges"
    __table_args__ = (UniqueConstraint("direction", "envelope_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    peer_id: Mapped[int] = mapped_column(ForeignKey("federation_peers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created: Mapped[str] = mapped_column(String(20))  # as the envelope states it
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(32))  # "accepted", or "refused:<reason>"
    object_uuid: Mapped[str | None] = mapped_column(String(36))

    peer: Mapped[FederationPeer] = relationship()


class CaseTransfer(Base):
    """A case that left for a peer (`out`) or arrived from one (`in`), with the
    survivor's consent for referral: the transfer's random uuid (the same on both
    sides, named in the signed package and in every custody receipt of its items), the
    peer, the case here (NULL once deleted), how many items, and the envelope."""

    __tablename__ = "case_transfers"
    __table_args__ = (UniqueConstraint("direction", "transfer_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_uuid: Mapped[str] = mapped_column(String(36))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    peer_id: Mapped[int] = mapped_column(ForeignKey("federation_peers.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    # The envelope that carried it out; NULL for one received (its exchange row names
    # the case it became).
    envelope_id: Mapped[str | None] = mapped_column(String(32))
    items: Mapped[int] = mapped_column()
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    peer: Mapped[FederationPeer] = relationship()
