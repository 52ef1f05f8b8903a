"""Request-scoped access to what an app factory wired: the Runtime and a DB session.

Nothing here is a global: each value is read from the current app or `g`, so several
apps (tests build one per test) never share state.

The request owns its transaction (`install_transactions`): services add to the session
and never commit; the request commits when it answers below 400 and rolls back
otherwise (a refusal, bad input, an error page, an exception), so a request that fails
changes nothing (vault.transaction.finish). What must outlive a refusal (the refusal's
own audit event, `vault.transaction.keep_refusal`) commits in a transaction of its own.
A commit that fails is an error page: nothing is answered as done that was not stored.
A streamed body runs after the commit: whatever it writes, it commits itself.
"""

from __future__ import annotations

from typing import cast

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from vault.transaction import finish

RUNTIME_KEY = "backup"


def get_runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[RUNTIME_KEY])


def install_transactions(app: Flask) -> None:
    """One session and one transaction per request (see the module's doc)."""
    app.after_request(end_transaction)
    app.teardown_appcontext(close_db)


def get_db() -> Session:
    """One SQLAlchemy session per request, opened on first use, closed at teardown."""
    if "db" not in g:
        g.db = get_runtime().session_factory()
    return cast(Session, g.db)


def end_transaction(response: Response) -> Response:
    """Commit the request's work if it succeeded (status below 400), else roll it back."""
    session = g.get("db")
    if session is None:
        return response
    # A failed commit raises: the error page, what was not stored is not answered as done.
    finish(session, success=response.status_code < 400)
    return response


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's session: whatever it did not commit is rolled back."""
    session = g.pop("db", None)
    if session is not None:
        session.close()
