"""The directory of professionals across federated instances (docs/federation.md).

Our side: `DirectoryListing`, one row per agreement a partner professional gave to be
listed to our peers (who, when, when withdrawn); what the entry says (profession,
regions, languages, availability) is sealed with the instance's directory key
(vault.directory_key), bound to the listing's uuid. `DirectoryPublication`: one row
per directory we built for our peers; its id is the version peers keep.

Their side: `PeerDirectory` (per peer: the version kept, when received) and
`PeerDirectoryEntry` (each entry as the peer published it, sealed with the directory
key, bound to the row's uuid).

Clear at rest, by design (docs/threat-model.md): which of our accounts agreed and
withdrew and when, each published entry's random id, the number of entries and the
time of each publication, per peer the version and time of its directory and how many
entries it holds with their random ids. Organisation, profession, regions, languages
and availability are sealed.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow
from vault.models.federation import FederationPeer
from vault.models.reviewer import Reviewer


def _entry_id() -> str:
    return uuid.uuid4().hex


class DirectoryListing(Base):
    """A partner professional's agreement to be listed to our peers (revocable)."""

    __tablename__ = "directory_listings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The entry's id as peers see it: random, not the account's uuid.
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=_entry_id)
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), index=True
    )
    agreed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # JSON {profession, regions, languages, availability}, sealed (directory key).
    entry_sealed: Mapped[str] = mapped_column(Text)

    reviewer: Mapped[Reviewer] = relationship()

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


class DirectoryPublication(Base):
    """A directory built for our peers; `id` is its version."""

    __tablename__ = "directory_publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    entries: Mapped[int]


class PeerDirectory(Base):
    """The directory a peer sent last: only a higher version replaces it."""

    __tablename__ = "peer_directories"

    id: Mapped[int] = mapped_column(primary_key=True)
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("federation_peers.id", ondelete="CASCADE"), unique=True
    )
    version: Mapped[int]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    peer: Mapped[FederationPeer] = relationship()


class PeerDirectoryEntry(Base):
    __tablename__ = "peer_directory_entries"
    __table_args__ = (UniqueConstraint("peer_id", "entry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    peer_id: Mapped[int] = mapped_column(
        ForeignKey("federation_peers.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[str] = mapped_column(String(32))  # the peer's random id for it
    # JSON {organisation, profession, regions, languages, availability}, sealed.
    entry_sealed: Mapped[str] = mapped_column(Text)

    peer: Mapped[FederationPeer] = relationship()
