"""Admins browse and export the audit log; the operator verifies its hash chain.

Reading the log is itself an audited action (who looked at who did what).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.models import AuditEvent, Reviewer
from vault.services import audit
from vault.services.reviewers import AccessDeniedError, require_admin

__all__ = ["EXPORT_COLUMNS", "AuditPage", "browse", "export_csv", "require_admin_audited"]

PAGE_SIZE = 100
EXPORT_COLUMNS = (
    "seq",
    "at",
    "actor_uuid",
    "action",
    "object_type",
    "object_uuid",
    "detail",
    "prev_hash",
    "hash",
)


class RefusalRecordedError(AccessDeniedError):
    """An AccessDeniedError whose refusal is already in the audit log (the app's error
    handler records the others, so that every refusal leaves exactly one trace)."""


@dataclass(frozen=True)
class AuditPage:
    events: list[tuple[AuditEvent, str | None]]  # the event and its actor's username
    page: int
    pages: int


def require_admin_audited(db: Session, actor: Reviewer, area: str) -> None:
    """`require_admin`, recording a refusal before raising it."""
    try:
        require_admin(actor)
    except AccessDeniedError:
        audit.record(db, actor, "admin_access_denied", area)
        db.commit()
        raise RefusalRecordedError("admin only") from None


def browse(db: Session, actor: Reviewer, page: int = 1, action: str | None = None) -> AuditPage:
    """Newest first, `PAGE_SIZE` per page, optionally one action only."""
    require_admin_audited(db, actor, "audit")
    query = select(AuditEvent, Reviewer.username).outerjoin(
        Reviewer, Reviewer.id == AuditEvent.actor_id
    )
    count = select(func.count(AuditEvent.id))
    if action:
        query = query.where(AuditEvent.action == action)
        count = count.where(AuditEvent.action == action)
    total = db.scalar(count) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.execute(
        query.order_by(AuditEvent.seq.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    audit.record(db, actor, "audit_viewed")
    db.commit()
    return AuditPage([(event, username) for event, username in rows], page, pages)


def export_csv(db: Session, actor: Reviewer) -> Iterator[str]:
    """The whole chain as CSV, oldest first, with hashes so it can be re-verified."""
    require_admin_audited(db, actor, "audit")
    audit.record(db, actor, "audit_exported")
    db.commit()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    rows = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    for event in rows:
        writer.writerow(
            [
                event.seq,
                event.at.isoformat(),
                event.actor_uuid or "",
                event.action,
                event.object_type or "",
                event.object_uuid or "",
                event.detail or "",
                event.prev_hash,
                event.hash,
            ]
        )
    yield buffer.getvalue()
