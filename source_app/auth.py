"""The source's login state, held in the encrypted server-side session.

A logged-in session holds the source's uuid and the passphrase of their reply key
(`SourceCredentials`), never the codename. The only time a codename sits in a session is
between "I am new" (shown once) and the POST that creates the source: that session is
anonymous, so it is a sealed cookie that nothing on the server records (webcore.sessions).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from flask import g, redirect, session, url_for
from flask.typing import ResponseReturnValue

from source_app.context import get_db
from vault.errors import NotFoundError
from vault.models import Source
from vault.services.sources import SourceCredentials, get_active_source
from webcore.sessions import ServerSession

P = ParamSpec("P")

_UUID = "source_uuid"
# A session key name, not a secret.
_PASSPHRASE = "reply_passphrase"  # noqa: S105  # nosec B105
NEW_CODENAME = "codename"
LANGUAGE = "lang"  # see source_app.language


def server_session() -> ServerSession:
    current = session
    if not isinstance(current, ServerSession):  # the proxy forwards isinstance
        raise RuntimeError("the source app needs RedisSessionInterface")
    return current


def session_credentials() -> SourceCredentials | None:
    uuid = session.get(_UUID)
    passphrase = session.get(_PASSPHRASE)
    if not isinstance(uuid, str) or not isinstance(passphrase, str):
        return None
    return SourceCredentials(uuid, passphrase)


def is_logged_in() -> bool:
    return session_credentials() is not None


def log_in(credentials: SourceCredentials) -> None:
    """A new session token (the old one is worthless), holding only the credentials."""
    current = server_session()
    language = current.get(LANGUAGE)
    current.regenerate()
    current.clear()  # drops a pending codename and the anonymous CSRF token
    if isinstance(language, str):
        current[LANGUAGE] = language  # the language chosen before logging in stays
    current[_UUID] = credentials.source_uuid
    current[_PASSPHRASE] = credentials.reply_passphrase


def log_out() -> None:
    """Wipe the session from Redis and the browser."""
    server_session().destroy()


def source_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Load the logged-in source into `g`, or send the visitor to the login page."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        credentials = session_credentials()
        if credentials is None:
            return redirect(url_for("main.login"))
        try:
            g.source = get_active_source(get_db(), credentials.source_uuid)
        except NotFoundError:
            # Deleted by the team since login: this session has nothing left to show.
            log_out()
            return redirect(url_for("main.login"))
        g.credentials = credentials
        return view(*args, **kwargs)

    return wrapped


def current_source() -> Source:
    source: Source = g.source
    return source


def current_credentials() -> SourceCredentials:
    credentials: SourceCredentials = g.credentials
    return credentials
