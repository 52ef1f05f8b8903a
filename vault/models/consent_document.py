"""The arrival of a consent-bearing document (an ASSIST request or a change of consent).

The source app knows which form a source sent, so it marks the sealed message as one
that carries consent: no content, only which submission and when. Until an analyst
records a consent from a document at least as new, the source's cases say "new consent
document: record it". The server thereby learns which messages are consent documents
(see docs/threat-model.md).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base


class ConsentDocument(Base):
    __tablename__ = "consent_documents"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    # The submission's arrival time, kept here so the flag needs no join.
    received_at: Mapped[dt.datetime] = mapped_column()
