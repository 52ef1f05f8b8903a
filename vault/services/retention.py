"""Retention: sources inactive for N days and not linked to an open case are deleted.

From the reviewer interface, always two steps, both admin-only and audited: `preview`
lists what would go; `apply` re-checks each source of that preview (activity or a case
link since then saves it) and requests its deletion, which the RQ deletion job carries
out (files shredded, key and rows removed; see `vault.services.deletion`).

A standing policy set by the admin at deployment (`backup_retention_days`, run daily by
a systemd timer through `backupctl retention run`) is `apply_policy`: the same rule,
applied by the system (actor none in the audit log), one event per source and a total.

A source in a case under legal hold (or with a submission in one) is never eligible,
whatever the case's status (`vault.services.legal_hold`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import VaultError
from vault.models import Case, CaseSource, CaseStatus, Reviewer, Source
from vault.services import audit, deletion
from vault.services.audit_log import require_admin_audited
from vault.services.legal_hold import held_source

__all__ = [
    "MIN_DAYS",
    "Candidate",
    "InvalidRetentionError",
    "apply",
    "apply_policy",
    "eligible",
    "preview",
]

# A floor against a slip of the finger (0 or 1 day would empty the instance).
MIN_DAYS = 7
_CLOSED = (CaseStatus.CLOSED, CaseStatus.DISCARDED)


class InvalidRetentionError(VaultError):
    """A retention period below MIN_DAYS."""


@dataclass(frozen=True)
class Candidate:
    uuid: str
    designation: str
    last_updated: dt.datetime


def _eligible(days: int, now: dt.datetime) -> Select[Source]:
    if days < MIN_DAYS:
        raise InvalidRetentionError(f"the retention period is at least {MIN_DAYS} days")
    in_open_case = exists().where(
        CaseSource.source_id == Source.id,
        CaseSource.case_id == Case.id,
        Case.status.not_in(_CLOSED),
    )
    return select(Source).where(
        Source.deleted_at.is_(None),
        Source.last_updated < now - dt.timedelta(days=days),
        ~in_open_case,
        ~held_source(),
    )


def preview(
    db: Session, actor: Reviewer, days: int, now: dt.datetime | None = None
) -> list[Candidate]:
    require_admin_audited(db, actor, "retention")
    rows = db.scalars(_eligible(days, now or utcnow()).order_by(Source.last_updated)).all()
    audit.record(db, actor, "retention_previewed")
    return [Candidate(s.uuid, s.designation, s.last_updated) for s in rows]


def apply(
    db: Session,
    redis: Redis,
    actor: Reviewer,
    days: int,
    previewed: Iterable[str],
    now: dt.datetime | None = None,
) -> int:
    """Request deletion of the previewed sources that are still eligible; their count."""
    require_admin_audited(db, actor, "retention")
    wanted = set(previewed)
    if not wanted:
        return 0
    sources = db.scalars(_eligible(days, now or utcnow()).where(Source.uuid.in_(wanted))).all()
    return _request_deletions(db, redis, actor, sources, "retention_applied")


def _request_deletions(
    db: Session, redis: Redis, actor: Reviewer | None, sources: Sequence[Source], done: str
) -> int:
    """Deletion requested for each source (audited one by one), then the run audited."""
    for source in sources:
        audit.record(db, actor, "retention_deletion_requested", "source", source.uuid)
        deletion.request_source_deletion(db, redis, source)  # queued once committed
    audit.record(db, actor, done)
    return len(sources)


def eligible(db: Session, days: int, now: dt.datetime | None = None) -> list[Candidate]:
    """What the policy would delete now, oldest first (for the operator's dry run)."""
    rows = db.scalars(_eligible(days, now or utcnow()).order_by(Source.last_updated)).all()
    return [Candidate(s.uuid, s.designation, s.last_updated) for s in rows]


def apply_policy(db: Session, redis: Redis, days: int, now: dt.datetime | None = None) -> int:
    """The standing policy: request deletion of every eligible source; their count.

    Run by the system, not by a reviewer: audited with no actor, per source and in total.
    """
    sources = db.scalars(_eligible(days, now or utcnow()).order_by(Source.last_updated)).all()
    return _request_deletions(db, redis, None, sources, "retention_policy_applied")
