"""A legal hold on a case: while it stands, nothing of the case is deleted automatically.

One row per held case; lifting the hold removes the row (the audit log keeps the history:
who set it, when, who lifted it). The reason is free text a reviewer wrote (a court's or
a prosecutor's request may name people), so it is sealed with the instance's column key
(vault.column_key), bound to the case's uuid; never stored in clear.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.case import Case
    from vault.models.reviewer import Reviewer


class LegalHold(Base):
    __tablename__ = "case_legal_holds"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    # NULL: set by the operator at the server's console (backupctl), or the account is gone.
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    set_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason_sealed: Mapped[str] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    set_by: Mapped[Reviewer | None] = relationship()
