"""Request-scoped access to what an app factory wired: the Runtime and a DB session.

Nothing here is a global: each value is read from the current app or `g`, so several
apps (tests build one per test) never share state.
"""

from __future__ import annotations

from typing import cast

from flask import current_app, g
from sqlalchemy.orm import Session

from composition.runtime import Runtime

RUNTIME_KEY = "backup"


def get_runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[RUNTIME_KEY])


def get_db() -> Session:
    """One SQLAlchemy session per request, opened on first use, closed at teardown."""
    if "db" not in g:
        g.db = get_runtime().session_factory()
    return cast(Session, g.db)


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
