"""Request-scoped access to what the factory wired: the Runtime, a database session,
the password hasher, the logged-in reviewer and the server-side session."""

from __future__ import annotations

from typing import cast

from argon2 import PasswordHasher
from flask import abort, current_app, g, session

from vault.models import Reviewer
from web_shared.context import RUNTIME_KEY, close_db, get_db, get_runtime
from web_shared.sessions import ServerSession

__all__ = [
    "HASHER_KEY",
    "RUNTIME_KEY",
    "close_db",
    "current_reviewer",
    "db",
    "hasher",
    "runtime",
    "server_session",
]

HASHER_KEY = "backup.hasher"

# This app names them runtime() and db().
runtime = get_runtime
db = get_db


def hasher() -> PasswordHasher:
    return cast(PasswordHasher, current_app.extensions[HASHER_KEY])


def current_reviewer() -> Reviewer:
    """The logged-in reviewer (the login gate guarantees one outside the allowlist)."""
    reviewer = g.get("reviewer")
    if not isinstance(reviewer, Reviewer):
        abort(403)
    return reviewer


def server_session() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, ServerSession):
        raise RuntimeError("the journalist app needs the Redis session interface")
    return current
