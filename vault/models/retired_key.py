"""Keys to remove from a process's GnuPG home.

Each process keeps its keys in a home of its own that no other process may write to
(docs/threat-model.md, "What each service user can read"). A deletion decided elsewhere
(the worker deleting a source, an account key replaced) is recorded here, one row per
home that may hold a copy; each process removes its own and then its rows
(vault.services.key_retirement).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow

SIDE_LENGTH = 16


class RetiredKey(Base):
    __tablename__ = "retired_keys"
    __table_args__ = (UniqueConstraint("fingerprint", "side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(SIDE_LENGTH), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
