"""A source's recorded consent: one row per recording, the newest is the state.

Consent is the source's, not a case's: the same consent document governs every case the
source is in, so the state is kept per source, and `case_id` says only on which case it
was recorded. Nothing here is content: the purposes and yes/no/unknown answers are
workflow facts like a case's status (see docs/threat-model.md), the document is named by
its uuid and stored name, never by anything it says.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.consent_record import Answer
from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.reviewer import Reviewer

PURPOSE_MAX = 32
DOCUMENT_NAME_MAX = 255


class ConsentOrigin(enum.Enum):
    # Read on the air-gapped workstation, entered with its check code.
    WORKSTATION = "workstation"
    # Read from a care request opened in memory by the on-duty team.
    CARE_REQUEST = "care_request"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, validate_strings=True)


class ConsentAnswer(Base):
    """One purpose's answer in a recorded consent."""

    __tablename__ = "consent_answers"

    record_id: Mapped[int] = mapped_column(
        ForeignKey("consent_records.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(PURPOSE_MAX), primary_key=True)
    answer: Mapped[Answer] = mapped_column(_enum(Answer))


class ConsentRecord(Base):
    __tablename__ = "consent_records"
    # The state of a source is its newest record: by the document's time, then by id.
    __table_args__ = (Index("ix_consent_records_source_given", "source_id", "given_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    # The sealed document it was read from: kept by uuid and stored name (not a foreign
    # key), so the consent stands after the document itself is deleted.
    submission_uuid: Mapped[str] = mapped_column(String(36))
    document_name: Mapped[str] = mapped_column(String(DOCUMENT_NAME_MAX))
    # When the source gave it: the document's arrival on the server.
    given_at: Mapped[dt.datetime] = mapped_column()
    origin: Mapped[ConsentOrigin] = mapped_column(_enum(ConsentOrigin))
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    answers: Mapped[list[ConsentAnswer]] = relationship(
        order_by="ConsentAnswer.purpose", cascade="all, delete-orphan", passive_deletes=True
    )
    recorded_by: Mapped[Reviewer | None] = relationship()

    def answer(self, purpose: str) -> Answer:
        """A purpose this record does not name (added to the schema since) is unknown."""
        for row in self.answers:
            if row.purpose == purpose:
                return row.answer
        return Answer.UNKNOWN
