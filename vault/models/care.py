"""Care requests: the care copy of an ASSIST request, for the on-duty care team.

An ASSIST request is sealed as a submission like any evidence (opened only on the
air-gapped workstation). Unless the source chose the evidence path only, a *care copy*
of the same document is also sealed to the care team's account keys and the submission
key, so a professional can read it in memory while logged in (vault.services.care).

In clear the server keeps only what it needs to sort, escalate and notify without
anyone logged in: that the request is urgent, its state and its times. Never what it
says.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Enum, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.reviewer import Reviewer
    from vault.models.source import Source


class CareStatus(enum.Enum):
    OPEN = "open"
    TAKEN = "taken"
    CLOSED = "closed"


class CareRequest(Base):
    __tablename__ = "care_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    # Deleting a source removes its care requests (the database cascades).
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    # canonical_recipients() of the fingerprints `ciphertext` is sealed to (as notes).
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    # In clear on purpose: the server sorts, notifies and escalates on it unattended.
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[CareStatus] = mapped_column(
        Enum(CareStatus, native_enum=False, length=16, validate_strings=True),
        default=CareStatus.OPEN,
        index=True,
    )
    taken_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="SET NULL"), default=None
    )
    taken_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    source: Mapped[Source] = relationship()
    taken_by: Mapped[Reviewer | None] = relationship(foreign_keys=[taken_by_id])
