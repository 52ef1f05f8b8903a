from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.reply import Reply
    from vault.models.submission import Submission

LOOKUP_ID_LENGTH = 64
DESIGNATION_LENGTH = 64


class Source(Base):
    """An anonymous source. The codename is never stored: only its slow derivation."""

    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_last_updated_id", "last_updated", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    lookup_id: Mapped[str] = mapped_column(String(LOOKUP_ID_LENGTH), unique=True)
    designation: Mapped[str] = mapped_column(String(DESIGNATION_LENGTH), unique=True)
    reply_key_fingerprint: Mapped[str] = mapped_column(String(64))
    # The reply key's public half as gpg exports it (ASCII armor), kept when the key is
    # made so the API lists sources without a gpg call per source. NULL for sources
    # made before migration 0013 until first listed (vault.services.inbox.public_keys).
    reply_public_key: Mapped[str | None] = mapped_column(Text, default=None)
    # The reply key's secret half, locked by the codename-derived passphrase and sealed
    # for this row (vault.services.reply_keys): every backend opens replies with it.
    # NULL for a source recorded before migration 0027 until it next reads its replies
    # where its key was made.
    reply_secret_key: Mapped[str | None] = mapped_column(Text, default=None)
    interaction_count: Mapped[int] = mapped_column(default=0)
    pending: Mapped[bool] = mapped_column(default=True)
    # Indexed (migration 0013): the inbox's starred filter finds the few starred sources
    # without walking the others.
    starred: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Indexed with the id (migration 0018): the inbox sorts and pages on both, in
    # the index's order, without sorting what it walks.
    last_updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set when deletion is requested; the background job removes files, then the row.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    submissions: Mapped[list[Submission]] = relationship(
        back_populates="source",
        order_by="Submission.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    replies: Mapped[list[Reply]] = relationship(
        back_populates="source",
        order_by="Reply.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def next_interaction(self) -> int:
        self.interaction_count += 1
        return self.interaction_count

    @property
    def slug(self) -> str:
        """The designation as used in stored file names: 'sober moth' -> 'sober_moth'."""
        return self.designation.replace(" ", "_")
