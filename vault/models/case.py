"""Cases: the unit of triage. A case groups sources and submissions about one incident.

Nothing here holds content. A case carries only workflow facts (reference, status, a
*reason code* from a fixed list, priority, the urgent-medical flag, labels, a due date):
free text about an incident belongs in encrypted notes, never in a column a database
dump would reveal.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.reviewer import Reviewer
    from vault.models.source import Source
    from vault.models.submission import Submission

REFERENCE_LENGTH = 16
LABEL_MAX = 32
REASON_MAX = 32


class CaseStatus(enum.Enum):
    NEW = "new"
    TRIAGE = "triage"
    VERIFIED = "verified"
    REFERRED = "referred"
    JUDICIAL = "judicial"
    CLOSED = "closed"
    DISCARDED = "discarded"


class CasePriority(enum.Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, validate_strings=True)


class CaseSource(Base):
    """A source linked to a case (many-to-many: one incident, several reporters)."""

    __tablename__ = "case_sources"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    # Deleting a source (retention, a reviewer, the source itself) unlinks it silently.
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CaseSubmission(Base):
    """A single submission linked to a case (a source may report several incidents)."""

    __tablename__ = "case_submissions"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CaseAssignee(Base):
    __tablename__ = "case_assignees"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CaseLabel(Base):
    __tablename__ = "case_labels"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(LABEL_MAX), primary_key=True, index=True)


class CaseStatusChange(Base):
    """The status history of a case, with the reason code given for each change."""

    __tablename__ = "case_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    from_status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus))
    to_status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus))
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX), default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    actor: Mapped[Reviewer | None] = relationship()


class Case(Base):
    __tablename__ = "cases"
    # The dashboard and the case list filter on these; without indexes they scan.
    __table_args__ = (
        Index("ix_cases_status_priority", "status", "priority"),
        Index("ix_cases_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    # BU-YYYY-NNNN, unique: two concurrent creations can never share a reference.
    reference: Mapped[str] = mapped_column(String(REFERENCE_LENGTH), unique=True)
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.NEW)
    status_reason: Mapped[str | None] = mapped_column(String(REASON_MAX), default=None)
    priority: Mapped[CasePriority] = mapped_column(_enum(CasePriority), default=CasePriority.NORMAL)
    urgent_medical: Mapped[bool] = mapped_column(default=False, index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    sources: Mapped[list[Source]] = relationship(
        secondary="case_sources", order_by="Source.id", viewonly=True
    )
    submissions: Mapped[list[Submission]] = relationship(
        secondary="case_submissions", order_by="Submission.id", viewonly=True
    )
    assignees: Mapped[list[Reviewer]] = relationship(
        secondary="case_assignees", order_by="Reviewer.username", viewonly=True
    )
    labels: Mapped[list[CaseLabel]] = relationship(
        order_by="CaseLabel.label", cascade="all, delete-orphan", passive_deletes=True
    )
    history: Mapped[list[CaseStatusChange]] = relationship(
        order_by="CaseStatusChange.id", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_open(self) -> bool:
        return self.status not in (CaseStatus.CLOSED, CaseStatus.DISCARDED)
