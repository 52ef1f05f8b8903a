"""The audit log: who did what to which object, by identifier only.

An event never carries content (no message text, no reply, no username typed at a
login prompt): only the acting reviewer, a fixed action name and the object's uuid.
Events are added to the caller's session, so they commit (or roll back) together with
the change they describe, and are hash-chained (`vault.audit_chain`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy.orm import Session

from vault import audit_chain
from vault.db import utcnow
from vault.models import AuditEvent, Reviewer
from vault.transaction import keep_refusal

__all__ = ["DETAIL_MAX", "Detail", "record"]

# A detail holds identifiers and enumerated values (field names, statuses, priorities,
# dates, reviewer uuids, labels), never text a source or a reviewer wrote.
Detail = Mapping[str, str | int | bool | list[str] | None]
DETAIL_MAX = 512


def record(
    db: Session,
    actor: Reviewer | None,
    action: str,
    object_type: str | None = None,
    object_uuid: str | None = None,
    detail: Detail | None = None,
) -> AuditEvent:
    """Add an audit event to `db`, linked into the hash chain (the caller commits).

    `detail` says exactly what changed (see `Detail`); it is stored as canonical JSON.
    """
    encoded = None
    if detail is not None:
        encoded = json.dumps(dict(detail), sort_keys=True, separators=(",", ":"))
        if len(encoded) > DETAIL_MAX:
            raise ValueError("audit detail too long")
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_uuid=actor.uuid if actor is not None else None,
        action=action,
        object_type=object_type,
        object_uuid=object_uuid,
        detail=encoded,
    )
    return audit_chain.link(db, event)


def record_refusal(
    db: Session,
    actor: Reviewer | None,
    action: str,
    object_type: str | None = None,
    object_uuid: str | None = None,
    detail: Detail | None = None,
) -> None:
    """Record a refusal (a denied access, a failed login) so that it outlives the
    transaction that fails with it (`vault.transaction.keep_refusal`): it is written when
    the caller ends the transaction, with the work or alone after the rollback."""
    keep_refusal(
        db, lambda session: record(session, actor, action, object_type, object_uuid, detail)
    )
