"""Each source's quota of stored bytes: the ciphertext of their live submissions.

Counted from the rows (never the directory): what the team has deleted no longer counts,
and a partial upload never does. A flood of uploads under one codename stops at the
quota, long before it could fill the disk for everyone else.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.errors import QuotaExceededError
from vault.models import Source, Submission

__all__ = ["check", "remaining", "stored_bytes"]


def stored_bytes(db: Session, source: Source) -> int:
    total = db.scalar(
        select(func.coalesce(func.sum(Submission.size), 0)).where(
            Submission.source_id == source.id, Submission.deleted_at.is_(None)
        )
    )
    return int(total or 0)


def remaining(db: Session, source: Source, quota: int) -> int:
    """What the source may still send (0 when the quota is used up)."""
    return max(quota - stored_bytes(db, source), 0)


def check(db: Session, source: Source, quota: int, incoming: int) -> None:
    """Raise QuotaExceededError unless `incoming` more bytes fit in the source's quota.

    Locks the source's row first (PostgreSQL; SQLite serialises writers anyway), so two
    concurrent submissions of one source cannot both squeeze into the same remainder.
    """
    with db.no_autoflush:  # rows being added by the caller are `incoming`, not stored
        db.execute(select(Source.id).where(Source.id == source.id).with_for_update())
        left = quota - stored_bytes(db, source)
    if incoming > left:
        raise QuotaExceededError(quota, left)
