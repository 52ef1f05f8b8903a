from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow


class AuditEvent(Base):
    """Who did what to which object. Holds identifiers only, never content.

    Events form a hash chain (`vault.audit_chain`): `hash` covers the event's fields and
    the previous event's hash, so editing, deleting or reordering a row breaks the chain
    from that point on. `seq` is unique so two concurrent writers cannot both extend the
    chain from the same link (one fails and rolls back instead of forking it).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(32), default=None)
    object_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    actor_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # What changed, as canonical JSON of identifiers and enumerated values only (e.g.
    # {"field": "priority", "from": "normal", "to": "high"}); never content. NULL on
    # events that change nothing beyond their action, and on events older than 0010.
    detail: Mapped[str | None] = mapped_column(String(512), default=None)
