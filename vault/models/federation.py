"""Peer instances and the envelopes exchanged with them (docs/federation.md).

Clear at rest, by design (docs/threat-model.md): each peer's name (chosen by the
admin), onion address, public keys and fingerprints, and, per envelope, its random id,
kind, direction, peer, dates, outcome and the id of what it carried (a release uuid).
No body is kept here: what a body carries is stored by its kind's own table (a
release: observatory_releases)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.case import Case
    from vault.models.reviewer import Reviewer


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
    # The version of the peer's last published readers of case messages we keep
    # (PeerReaderKey); NULL before the first.
    readers_version: Mapped[int | None] = mapped_column(BigInteger, default=None)

    @property
    def active(self) -> bool:
        return self.removed_at is None


class FederationExchange(Base):
    """One envelope accepted from a peer (`in`) or delivered to one (`out`).

    The id of an incoming envelope is what refuses its replay; once the envelope is
    older than its accepted window (its date refuses it anyway) the id is dropped
    (`federation_peers.prune_received_ids`): NULL, the row kept."""

    __tablename__ = "federation_exchanges"
    __table_args__ = (UniqueConstraint("direction", "envelope_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[str | None] = mapped_column(String(32))
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
    case: Mapped[Case | None] = relationship()


class CaseMessage(Base):
    """A message between professionals on a case shared with a peer (a transfer, out or
    in), sealed (docs/federation.md, "Messages on a shared case").

    `out`: written here. `ciphertext` is our copy, sealed to our readers of case notes
    and our submission key as a note is (`recipients` records to whom; re-sealed like
    notes when the readers change); `outgoing` the copy sealed to the peer's submission
    key and the readers it published, kept only until the peer accepts it. `in`: sent by
    the peer, `ciphertext` as it came (sealed by the peer's server to our submission key
    and the readers we published), `recipients` those found in it on receipt (NULL for
    a message received before they were recorded); re-sealed like ours.

    Clear at rest, by design (docs/threat-model.md): the message's random id, the
    transfer it hangs on, direction, author account, sizes, dates, delivery outcome and
    envelope id."""

    __tablename__ = "case_messages"
    __table_args__ = (UniqueConstraint("direction", "uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The message's id on both sides: 128 random bits, hex (the sender's choice).
    uuid: Mapped[str] = mapped_column(String(32))
    transfer_id: Mapped[int] = mapped_column(
        ForeignKey("case_transfers.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    author_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    outgoing: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created: Mapped[str] = mapped_column(String(20))  # UTC, to the second, as sent
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # "queued", "accepted", "refused:<reason>" (out); "received" (in).
    outcome: Mapped[str] = mapped_column(String(32))
    envelope_id: Mapped[str | None] = mapped_column(String(32), default=None)

    transfer: Mapped[CaseTransfer] = relationship()
    author: Mapped[Reviewer | None] = relationship()


class PsiMessage(Base):
    """A private-set-intersection message between our air-gapped workstation and a
    peer's (docs/observatory.md, "Federation"): a request (`psi_request`) or a response
    (`psi_response`), signed there with the workstation key, carried here as it is.

    `out`: brought from our workstation, queued until the peer accepts it. `in`: sent
    by the peer, kept until an admin writes it out for our workstation. The document
    and signature are dropped once sent or written out (NULL). What they hold is
    already blinded (curve points); clear at rest, by design: the message id, kind,
    peer, size, dates, outcome, envelope id (docs/threat-model.md)."""

    __tablename__ = "psi_messages"
    __table_args__ = (UniqueConstraint("direction", "peer_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    peer_id: Mapped[int] = mapped_column(ForeignKey("federation_peers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "psi_request" | "psi_response"
    # The document's own id (a uuid, the workstation's choice).
    message_id: Mapped[str] = mapped_column(String(36))
    document: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    size: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # out: "queued", "accepted", "refused:<reason>"; in: "received", "written".
    outcome: Mapped[str] = mapped_column(String(32))
    envelope_id: Mapped[str | None] = mapped_column(String(32), default=None)
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    peer: Mapped[FederationPeer] = relationship()


class PeerReaderKey(Base):
    """One public account key a peer published as a reader of case messages (the
    `readers` envelope): messages we write on a case shared with that peer are sealed to
    it as well as to the peer's submission key. Replaced whole at each newer version.

    Clear at rest, by design (docs/threat-model.md): public keys only, and so how many
    readers the peer has."""

    __tablename__ = "peer_reader_keys"
    __table_args__ = (UniqueConstraint("peer_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("federation_peers.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
