"""Admins browse and export the audit log; the operator verifies its hash chain.

Reading the log is itself an audited action (who looked at who did what).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from vault.models import AuditEvent, Reviewer
from vault.services import audit, audit_categories, audit_objects
from vault.services.audit_objects import ObjectRef
from vault.services.reviewers import AccessDeniedError, require_admin

__all__ = [
    "EXPORT_COLUMNS",
    "SYSTEM",
    "AuditFilter",
    "AuditPage",
    "actors",
    "browse",
    "detail_of",
    "export_csv",
    "require_admin_audited",
]

PAGE_SIZE = 100
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
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
class AuditFilter:
    """What an admin narrows the log to; every part is optional and they combine.

    `actor` is a reviewer's uuid, or `SYSTEM` for events no one did (background jobs,
    failed logins); `target` is what the admin typed to name an object (see
    `audit_objects.find_objects`); the dates are inclusive UTC days.
    """

    category: str | None = None
    action: str | None = None  # one exact action name (for experts)
    actor: str | None = None
    target: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


SYSTEM = "system"


@dataclass(frozen=True)
class AuditPage:
    events: list[tuple[AuditEvent, str | None]]  # the event and its actor's username
    page: int
    pages: int
    total: int = 0
    # What the page's object uuids (and uuids inside details) name, if they still exist.
    objects: dict[str, ObjectRef] = field(default_factory=dict)
    # The object filter named nothing known (the page is empty for that reason).
    unknown_target: bool = False


def require_admin_audited(db: Session, actor: Reviewer, area: str) -> None:
    """`require_admin`, recording a refusal before raising it."""
    try:
        require_admin(actor)
    except AccessDeniedError:
        audit.record_refusal(db, actor, "admin_access_denied", area)
        raise RefusalRecordedError("admin only") from None


def _conditions(
    db: Session, wanted: AuditFilter
) -> tuple[list[ColumnElement[bool]], bool, str | None]:
    """The WHERE clauses of a filter, whether its object named nothing known, and the
    uuid of the object it named."""
    where: list[ColumnElement[bool]] = []
    if wanted.category:
        where.append(audit_categories.condition(wanted.category))
    if wanted.action:
        where.append(AuditEvent.action == wanted.action)
    if wanted.actor == SYSTEM:
        where.append(AuditEvent.actor_uuid.is_(None))
    elif wanted.actor:
        where.append(AuditEvent.actor_uuid == wanted.actor)
    if wanted.since:
        where.append(AuditEvent.at >= _midnight(wanted.since))
    if wanted.until and wanted.until < dt.date.max:  # 9999-12-31: no upper bound
        where.append(AuditEvent.at < _midnight(wanted.until + dt.timedelta(days=1)))
    unknown, searched = False, None
    if wanted.target:
        found = audit_objects.find_objects(db, wanted.target)
        if found is not None:
            where.append(AuditEvent.object_uuid.in_(found))
            searched = found[0]
        elif audit_objects.is_uuid_prefix(wanted.target):
            prefix = wanted.target.strip().lower()
            where.append(AuditEvent.object_uuid.startswith(prefix, autoescape=True))
        else:
            unknown = True
            where.append(false())
    return where, unknown, searched


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def detail_of(event: AuditEvent) -> dict[str, Any]:
    """An event's detail as a mapping ({} when it has none or it cannot be read)."""
    if not event.detail:
        return {}
    try:
        value = json.loads(event.detail)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _uuids_in(events: list[AuditEvent]) -> set[str]:
    found = {e.object_uuid for e in events if e.object_uuid}
    for event in events:
        for value in detail_of(event).values():
            values = value if isinstance(value, list) else [value]
            found |= {v for v in values if isinstance(v, str) and _UUID.fullmatch(v)}
    return found


def browse(
    db: Session, actor: Reviewer, page: int = 1, wanted: AuditFilter | None = None
) -> AuditPage:
    """Newest first, `PAGE_SIZE` per page, narrowed by `wanted`; the objects the page
    names are resolved in one query (see `audit_objects.resolve`)."""
    require_admin_audited(db, actor, "audit")
    wanted = wanted or AuditFilter()
    where, unknown, searched = _conditions(db, wanted)
    query = (
        select(AuditEvent, Reviewer.username)
        .outerjoin(Reviewer, Reviewer.id == AuditEvent.actor_id)
        .where(*where)
    )
    total = db.scalar(select(func.count(AuditEvent.id)).where(*where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.execute(
        query.order_by(AuditEvent.seq.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    events: list[tuple[AuditEvent, str | None]] = [(e, username) for e, username in rows]
    objects = audit_objects.resolve(db, _uuids_in([e for e, _ in events]))
    # What was looked for is part of who looked: identifiers and enumerated values only.
    looked_for = {
        "category": wanted.category,
        "action": wanted.action,
        "actor": wanted.actor,
        "object": searched,
        "since": wanted.since.isoformat() if wanted.since else None,
        "until": wanted.until.isoformat() if wanted.until else None,
    }
    detail = {key: value for key, value in looked_for.items() if value}
    audit.record(db, actor, "audit_viewed", detail=detail or None)
    return AuditPage(events, page, pages, total, objects, unknown)


def actors(db: Session) -> list[tuple[str, str]]:
    """Every account that can appear as an actor, (uuid, username), by username."""
    rows = db.execute(select(Reviewer.uuid, Reviewer.username).order_by(Reviewer.username))
    return [(uuid, username) for uuid, username in rows]


def export_csv(db: Session, actor: Reviewer) -> Iterator[str]:
    """The whole chain as CSV, oldest first, with hashes so it can be re-verified; the
    export's own event is its last line. Read it whole before the caller commits."""
    require_admin_audited(db, actor, "audit")
    audit.record(db, actor, "audit_exported")
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
