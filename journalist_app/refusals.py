"""Every refusal leaves a trace in the audit log: the area and the reviewer, no content."""

from __future__ import annotations

from flask import g, request

from journalist_app.context import db
from vault.services.audit import record_refusal as keep


def record_refusal(action: str = "access_denied") -> None:
    """Record a refused request: kept in its own transaction when the request's work is
    undone (vault.transaction.keep_refusal)."""
    keep(db(), g.get("reviewer"), action, (request.blueprint or "")[:32])
