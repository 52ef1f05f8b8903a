"""Replies: the source's copy (a sealed file in the store) and the team's copy.

The source's copy is what the source reads, sealed to the source's key and the
submission key, exactly as before team copies existed. The team's copy (`ReplyCopy`) is
the same text sealed to the reviewers who read case notes (their account keys) and the
submission key, so whoever takes over a source can read what was promised while logged
in (vault.services.team_replies); it is re-sealed as notes are.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.partner import Referral
    from vault.models.reviewer import Reviewer
    from vault.models.source import Source


MAX_REPLY_CHARS = 50_000
# The most a reply's plaintext can be (50,000 characters of up to 4 bytes in UTF-8):
# the limit a source's page, or a reviewer's, decrypts to, whoever encrypted the reply.
MAX_REPLY_BYTES = 4 * MAX_REPLY_CHARS


class ReplySealer(enum.Enum):
    """Who sealed a reply (NULL: sent before this was recorded, migration 0011)."""

    SERVER = "server"  # the server sealed the text a reviewer typed: it has a team copy
    CLIENT = "client"  # the reviewer's client did (the API): the server never saw the text


class Reply(Base):
    """A reviewer's reply, sealed to the source's key and the submission key."""

    __tablename__ = "replies"
    # Live replies by source (migration 0020): the inbox counts them from this index alone.
    __table_args__ = (
        Index(
            "ix_replies_live_source",
            "source_id",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    # Indexed (migration 0003): the inbox counts replies per source.
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    # Set when a partner wrote it over a referral: the source sees it as coming from the
    # partner organisation, and the referring analyst's dashboard counts it.
    referral_id: Mapped[int | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), index=True, default=None
    )
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    deleted_by_source: Mapped[bool] = mapped_column(default=False)
    sealed_by: Mapped[ReplySealer | None] = mapped_column(
        Enum(ReplySealer, native_enum=False, length=8, validate_strings=True), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    source: Mapped[Source] = relationship(back_populates="replies")
    reviewer: Mapped[Reviewer | None] = relationship()
    referral: Mapped[Referral | None] = relationship()
    seen: Mapped[list[SeenReply]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    # Deleting a reply removes its team copy (the database cascades).
    team_copy: Mapped[ReplyCopy | None] = relationship(
        back_populates="reply", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def seen_by(self) -> list[str]:
        """Uuids of the reviewers who have read it: its author, and who marked it seen."""
        readers = [self.reviewer.uuid] if self.reviewer is not None else []
        readers += [row.reviewer.uuid for row in self.seen if row.reviewer.uuid not in readers]
        return readers


class SeenReply(Base):
    """A reviewer has read a reply (through the API's `seen`, as SecureDrop records it)."""

    __tablename__ = "seen_replies"
    __table_args__ = (UniqueConstraint("reply_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"))
    reviewer: Mapped[Reviewer] = relationship(lazy="joined")


class ReplyCopy(Base):
    """The team's copy of a reply the server sealed: the same text, sealed to the
    readers of case notes and the submission key (never read by the source)."""

    __tablename__ = "reply_copies"

    id: Mapped[int] = mapped_column(primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"), unique=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    # canonical_recipients() of the fingerprints `ciphertext` is sealed to (as notes).
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    reply: Mapped[Reply] = relationship(back_populates="team_copy")

    @property
    def uuid(self) -> str:
        """The reply's uuid: the audit log names a team copy by the reply it copies."""
        return self.reply.uuid
