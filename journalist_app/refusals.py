"""Every refusal leaves a trace in the audit log: the area and the reviewer, no content."""

from __future__ import annotations

from flask import g, request

from journalist_app.context import db
from vault.services.audit import record


def record_refusal(action: str = "access_denied") -> None:
    """Record a refused request in its own transaction (the request's work is undone)."""
    session = db()
    session.rollback()
    record(session, g.get("reviewer"), action, (request.blueprint or "")[:32])
    session.commit()
