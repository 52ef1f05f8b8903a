"""Legal guidance on a referred case: a partner investigator's question to WWoW's legal
advisers, and their answers.

Both are OpenPGP ciphertext only, sealed like case notes (vault.services.guidance says to
whom): the server stores who asked, on which referral, when, and whether it was answered,
never what was asked or said.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow
from vault.models.partner import Referral
from vault.models.reviewer import Reviewer


class GuidanceQuestion(Base):
    __tablename__ = "guidance_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    # Canonical recipient fingerprints (vault.models.note.canonical_recipients).
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set by the first answer: the advisers' list shows the questions still without one.
    answered_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)

    referral: Mapped[Referral] = relationship()
    author: Mapped[Reviewer | None] = relationship()


class GuidanceAnswer(Base):
    __tablename__ = "guidance_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    question_id: Mapped[int] = mapped_column(
        ForeignKey("guidance_questions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    question: Mapped[GuidanceQuestion] = relationship()
    author: Mapped[Reviewer | None] = relationship()
