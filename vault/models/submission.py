from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.source import Source


class SubmissionKind(enum.Enum):
    MESSAGE = "message"
    FILE = "file"


class Submission(Base):
    """One sealed message or file. Only ciphertext facts are recorded here."""

    __tablename__ = "submissions"
    # Live submissions by source and kind (migration 0020): the inbox's and the API's
    # counts read this index alone.
    __table_args__ = (
        Index(
            "ix_submissions_live_source_kind",
            "source_id",
            "kind",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    # Indexed (migration 0003): the inbox counts submissions per source.
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    kind: Mapped[SubmissionKind] = mapped_column(
        Enum(SubmissionKind, native_enum=False, length=16, validate_strings=True)
    )
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    downloaded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    source: Mapped[Source] = relationship(back_populates="submissions")


class SeenSubmission(Base):
    """A reviewer has opened (downloaded or marked seen) a submission."""

    __tablename__ = "seen_submissions"
    __table_args__ = (UniqueConstraint("submission_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"))


class UnreadSubmission(Base):
    """A live submission a reader (analyst or admin) has not seen yet: the inbox's unread
    filter reads these rows instead of looking for a missing `SeenSubmission` among every
    submission (vault.services.unread keeps them).

    A row is added for each reader when a submission is recorded, removed when the reader
    sees it, and a reader's rows are rebuilt from `seen_submissions` (the record that
    counts) when the account is created, changes role or is reactivated, and at each
    login. Soft-deleted submissions may keep theirs until the deletion job removes the
    submission: the inbox joins on `submissions.deleted_at`.
    """

    __tablename__ = "unread_submissions"
    __table_args__ = (Index("ix_unread_submissions_reviewer_source", "reviewer_id", "source_id"),)

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
