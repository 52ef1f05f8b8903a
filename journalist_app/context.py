"""Request-scoped access to what the factory wired: the Runtime, a database session,
the password hasher, the logged-in reviewer and the server-side session."""

from __future__ import annotations

from typing import cast

from argon2 import PasswordHasher
from flask import abort, current_app, g, session
from sqlalchemy.orm import Session

from vault.models import Reviewer
from vault.runtime import Runtime
from webcore.sessions import ServerSession

RUNTIME_KEY = "backup"
HASHER_KEY = "backup.hasher"


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[RUNTIME_KEY])


def hasher() -> PasswordHasher:
    return cast(PasswordHasher, current_app.extensions[HASHER_KEY])


def db() -> Session:
    """One SQLAlchemy session per request, closed at teardown."""
    if "db" not in g:
        g.db = runtime().session_factory()
    return cast(Session, g.db)


def close_db(_exc: BaseException | None = None) -> None:
    session_ = g.pop("db", None)
    if session_ is not None:
        session_.close()


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
