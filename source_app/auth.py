"""The source's login state, held in the encrypted server-side session.

A logged-in session holds the source's uuid and the passphrase of their reply key
(`SourceCredentials`), never the codename. The only time a codename sits in a session is
between "I am new" (shown once) and the POST that begins the source: that session is
anonymous, so it is a sealed cookie that nothing on the server records (web_shared.sessions).
A new source is not recorded until it first sends something: until then its session also
holds the lookup id (a derivation, as stored in the database), and there is no row and no
reply key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import ParamSpec

from flask import g, redirect, session, url_for
from flask.typing import ResponseReturnValue

from source_app.context import get_config, get_db, get_runtime
from vault import reports
from vault.models import Source, Submission
from vault.services import sources
from vault.services.sources import SourceCredentials, find_active_source
from vault.store import DocumentSink
from vault.transaction import after_commit
from web_shared.sessions import ServerSession

P = ParamSpec("P")

_UUID = "source_uuid"
# A session key name, not a secret.
_PASSPHRASE = "reply_passphrase"  # noqa: S105  # nosec B105
_NEW_LOOKUP = "new_source_lookup"
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
    lookup = session.get(_NEW_LOOKUP)
    return SourceCredentials(uuid, passphrase, lookup if isinstance(lookup, str) else None)


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
    if credentials.lookup_id is not None:
        current[_NEW_LOOKUP] = credentials.lookup_id


def log_out() -> None:
    """Wipe the session from Redis and the browser."""
    server_session().destroy()


def source_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Load the logged-in source into `g` (None while a new source is not recorded yet),
    or send the visitor to the login page."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        credentials = session_credentials()
        if credentials is None:
            return redirect(url_for("main.login"))
        source = find_active_source(get_db(), credentials.source_uuid)
        if source is None and credentials.lookup_id is None:
            # Deleted by the team since login: this session has nothing left to show.
            log_out()
            return redirect(url_for("main.login"))
        g.source = source
        g.credentials = credentials
        return view(*args, **kwargs)

    return wrapped


def current_source() -> Source | None:
    """The logged-in source's row; None for a new source that has sent nothing yet."""
    source: Source | None = g.source
    return source


def submit_as_current_source(
    message: str | None,
    documents: Sequence[DocumentSink],
    *,
    consent_state: Mapping[str, bool | None] | None = None,
) -> list[Submission]:
    """Seal and record for the logged-in source; a new source's first submission also
    records the source and its reply key (vault.services.sources.submit_first).
    `consent_state` goes with a message carrying consent (source_app.consent)."""
    runtime = get_runtime()
    quota_bytes = get_config().source_quota_bytes
    source = current_source()
    if source is not None:
        return sources.submit(
            get_db(),
            runtime.store,
            source,
            runtime.submission_fingerprint,
            message,
            documents,
            quota_bytes=quota_bytes,
            consent_state=consent_state,
        )
    if consent_state is None:  # a first submission: nothing answered yet, and known so
        consent_state = dict.fromkeys(reports.CONSENTS)
    source, created = sources.submit_first(
        get_db(),
        runtime.keyring,
        runtime.store,
        current_credentials(),
        runtime.submission_fingerprint,
        message,
        documents,
        quota_bytes=quota_bytes,
        consent_state=consent_state,
    )
    # Recorded once the request commits: the row is found by uuid from then on. Not
    # before: should the commit fail, the session keeps what records the source again.
    current = server_session()
    after_commit(get_db(), lambda: current.pop(_NEW_LOOKUP, None))
    g.source = source
    return created


def current_credentials() -> SourceCredentials:
    credentials: SourceCredentials = g.credentials
    return credentials
