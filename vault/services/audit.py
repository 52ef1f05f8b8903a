"""The audit log: who did what to which object, by identifier only.

An event never carries content (no message text, no reply, no username typed at a
login prompt): only the acting reviewer, a fixed action name and the object's uuid.
Events are added to the caller's session, so they commit (or roll back) together with
the change they describe, and are hash-chained (`vault.audit_chain`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from vault import audit_chain
from vault.db import utcnow
from vault.models import AuditEvent, Reviewer

__all__ = ["record"]


def record(
    db: Session,
    actor: Reviewer | None,
    action: str,
    object_type: str | None = None,
    object_uuid: str | None = None,
) -> AuditEvent:
    """Add an audit event to `db`, linked into the hash chain (the caller commits)."""
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_uuid=actor.uuid if actor is not None else None,
        action=action,
        object_type=object_type,
        object_uuid=object_uuid,
    )
    audit_chain.link(db, event)
    db.add(event)
    return event
