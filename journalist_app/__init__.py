"""The reviewer interface: WWoW analysts, partners and admins, behind a Tor onion service.

`create_app()` wires the Runtime, encrypted Redis sessions, CSRF, translations and the
security headers. Every endpoint requires a logged-in, active reviewer except those in
`PUBLIC_ENDPOINTS`.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from flask import Flask, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from composition.runtime import Runtime, build_runtime
from journalist_app import (
    admin,
    api,
    audit_admin,
    auth,
    care,
    case_consent,
    case_hold,
    case_messages,
    case_notes,
    dashboard,
    directory,
    guidance,
    inbox,
    language,
    observatory,
    partners,
    retention,
)
from journalist_app import cases as case_pages
from journalist_app import export as export_bundles
from journalist_app import guide as guide_pages
from journalist_app.context import (
    HASHER_KEY,
    RUNTIME_KEY,
    db,
    server_session,
)
from journalist_app.refusals import record_refusal
from vault.config import Config, load_config
from vault.errors import NotFoundError, StorageFullError
from vault.services import reviewer_login, reviewers
from vault.services.audit_log import RefusalRecordedError
from vault.services.inbox import is_uuid
from vault.services.reviewers import AccessDeniedError
from web_shared import security, upload_slots
from web_shared.context import install_transactions
from web_shared.sessions import RedisSessionInterface, refuse_unreadable_session

__all__ = ["PUBLIC_ENDPOINTS", "create_app"]

# The only endpoints reachable without logging in. Anything added here is public.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})
SESSION_PREFIX = "journalist-session"
# Reply forms are the largest requests: 50,000 characters, percent-encoded.
MAX_REQUEST_BYTES = 1024 * 1024

_ERROR_MESSAGES = {
    400: _l("The request could not be understood. Go back and try again."),
    403: _l("You are not allowed to do this."),
    404: _l("This page does not exist."),
    405: _l("This action is not allowed here."),
    413: _l("The request is too large."),
    429: _l("Too many attempts. Wait a few minutes and try again."),
    500: _l("Something went wrong. Try again later."),
    503: _l(
        "The server is busy receiving other uploads. Nothing was saved: wait a minute and "
        "try again."
    ),
    507: _l(
        "The server is running out of disk space: nothing was stored, so your reply was not "
        "sent. Tell your administrator."
    ),
}

csrf = CSRFProtect()
babel = Babel()


def create_app(
    config: Config | None = None,
    runtime: Runtime | None = None,
    *,
    hasher: PasswordHasher | None = None,
) -> Flask:
    """Build the reviewer app. `hasher` overrides the argon2id cost (tests only)."""
    if config is None:
        config = runtime.config if runtime is not None else load_config(interface="journalist")
    if runtime is None:
        runtime = build_runtime(config, side="journalist")
    secrets = config.secrets.for_journalist()  # ConfigError when this process holds none

    app = Flask(__name__)
    app.secret_key = secrets.cookie_key
    app.config.update(
        SESSION_COOKIE_NAME="__Host-journalist" if config.secure_cookies else "journalist",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES,
        # The token lives as long as the session (itself limited by idle time).
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=language.DEFAULT_LOCALE,
    )
    app.extensions[RUNTIME_KEY] = runtime
    app.extensions[HASHER_KEY] = hasher or reviewers.DEFAULT_HASHER
    app.session_interface = RedisSessionInterface(
        runtime.redis,
        prefix=SESSION_PREFIX,
        idle_seconds=config.session_idle_seconds,
        pepper=secrets.session_pepper,
    )
    app.before_request(refuse_unreadable_session)
    # Keys deleted elsewhere (public copies of deleted sources' keys) leave this home.
    app.before_request(runtime.purge_retired_keys_now_and_then)

    # Host check and tor2web refusal run before the login gate.
    upload_slots.install(app)  # before anything reads a body (see web_shared/upload_slots.py)
    security.install(app, production=config.production, onion_host=config.journalist_onion_host)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=language.select_locale)
    with app.app_context():
        # Offered: English and every locale whose catalogue is compiled (translations/).
        app.config[language.LOCALES_KEY] = [str(loc) for loc in babel.list_translations()]
    app.before_request(_login_gate)
    app.before_request(_refuse_malformed_uuids)
    install_transactions(app)  # the request commits, or rolls back on failure
    app.context_processor(language.template_globals)
    _register_error_handlers(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(language.bp)  # the reviewer's language, kept in the session
    app.register_blueprint(inbox.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(case_pages.bp)  # triage into cases
    app.register_blueprint(case_consent.bp)  # sources' consent, recorded and enforced
    app.register_blueprint(case_hold.bp)  # legal hold: exempt from automatic deletion
    app.register_blueprint(case_notes.bp)  # notes sealed to the analysts' keys
    app.register_blueprint(case_messages.bp)  # messages on cases shared with a peer
    app.register_blueprint(care.bp)  # care queue: ASSIST requests for the on-duty team
    app.register_blueprint(partners.bp)  # partner directory and referrals
    app.register_blueprint(directory.bp)  # professionals of partner instances
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(observatory.bp)  # statistics releases from the workstation
    app.register_blueprint(retention.bp)  # admin: preview, then delete inactive sources
    app.register_blueprint(audit_admin.bp)  # browse/export the hash-chained audit log
    app.register_blueprint(export_bundles.bp)  # custody bundles for the workstation
    app.register_blueprint(guide_pages.bp)  # the investigators' guide, and its PDF
    app.register_blueprint(guidance.bp)  # partners' legal questions, advisers' answers
    api.init_app(app, csrf)  # /api/v1/: its own token gate, JSON errors, CSRF-exempt
    return app


def _login_gate() -> ResponseReturnValue | None:
    """Load the session's reviewer; send everyone else to the login page.

    A session whose reviewer was deactivated, or whose passphrase or 2FA was reset, is
    destroyed here, at its next request: the Redis entry and the cookie go.
    """
    g.reviewer = None
    if api.is_api_request():
        return None  # the API's token gate decides, and answers in JSON, never a redirect
    session = server_session()
    reviewer_uuid, stamp = session.get("reviewer"), session.get("stamp")
    if isinstance(reviewer_uuid, str) and isinstance(stamp, str):
        reviewer = reviewer_login.load_session_reviewer(db(), reviewer_uuid, stamp)
        if reviewer is None:
            session.destroy()
        g.reviewer = reviewer
    if g.reviewer is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("auth.login"))
    return None


def _refuse_malformed_uuids() -> None:
    """A path uuid that is not one names nothing: 404 before any query. PostgreSQL
    would refuse a NUL in it, and an audited refusal could not record it (the audit
    log's object column holds a uuid)."""
    for name, value in (request.view_args or {}).items():
        if name.endswith("_uuid") and not is_uuid(str(value)):
            abort(404)


def _error_page(code: int) -> ResponseReturnValue:
    if api.is_api_request():
        return api.error_response(code)
    message = _ERROR_MESSAGES.get(code, _ERROR_MESSAGES[500])
    return render_template("error.html", code=code, message=message), code


def _register_error_handlers(app: Flask) -> None:
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return _error_page(exc.code or 500)

    def not_found(_exc: NotFoundError) -> ResponseReturnValue:
        return _error_page(404)

    def storage_full(_exc: StorageFullError) -> ResponseReturnValue:
        app.logger.warning("refused: the disk space reserve is reached")
        return _error_page(507)

    def denied(exc: AccessDeniedError) -> ResponseReturnValue:
        if not isinstance(exc, RefusalRecordedError):
            record_refusal()
        return _error_page(403)

    def unexpected(exc: Exception) -> ResponseReturnValue:
        # The class name only: an exception's message or traceback could carry content.
        app.logger.error("unhandled %s at %s", type(exc).__name__, request.endpoint)
        return _error_page(500)

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(NotFoundError, not_found)
    app.register_error_handler(StorageFullError, storage_full)
    app.register_error_handler(AccessDeniedError, denied)
    app.register_error_handler(Exception, unexpected)
