from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.partner import Referral
    from vault.models.reviewer import Reviewer
    from vault.models.source import Source


class Reply(Base):
    """A reviewer's reply, sealed to the source's key and the submission key."""

    __tablename__ = "replies"

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
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    source: Mapped[Source] = relationship(back_populates="replies")
    reviewer: Mapped[Reviewer | None] = relationship()
    referral: Mapped[Referral | None] = relationship()
    seen: Mapped[list[SeenReply]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
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
