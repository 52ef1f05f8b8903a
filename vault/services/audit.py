"""The audit log: who did what to which object, by identifier only.

An event never carries content (no message text, no reply, no username typed at a
login prompt): only the acting reviewer, a fixed action name and the object's uuid.
Events are added to the caller's session, so they commit (or roll back) together with
the change they describe.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from vault.models import AuditEvent, Reviewer

__all__ = ["record"]


def record(
    db: Session,
    actor: Reviewer | None,
    action: str,
    object_type: str | None = None,
    object_uuid: str | None = None,
) -> AuditEvent:
    """Add an audit event to `db` (the caller commits)."""
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=object_type,
        object_uuid=object_uuid,
    )
    db.add(event)
    return event
