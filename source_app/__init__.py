"""The source interface: a Flask app reachable only as a Tor onion service.

Works with JavaScript disabled, loads nothing from other origins, keeps sessions in
Redis (encrypted, cookie = random token only), streams uploads straight into the sealed
store, and answers every error with one neutral page carrying the quick-exit link.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from composition.runtime import Runtime, build_runtime
from source_app import alert, assist, consent, errors, figures, language, lookup, main, public_key
from source_app import receipts as custody_receipts
from source_app.context import CONFIG_KEY, RUNTIME_KEY
from source_app.uploads import (
    SealingRequest,
    discard_unfinished_uploads,
    refuse_unstorable_upload,
)
from vault.config import Config, load_config
from vault.errors import ConfigError
from web_shared import csrf_tokens, rendering, security, upload_slots
from web_shared.context import install_transactions
from web_shared.serving import SOURCE_POLICY
from web_shared.sessions import RedisSessionInterface, refuse_unreadable_session

__all__ = ["create_app"]

DEFAULT_LOCALE = language.DEFAULT_LOCALE
# Fields and files in one form: the ALERT report, every box ticked, has about 40 fields,
# plus its files; still a firm bound on parser work.
MAX_FORM_PARTS = 100
_LOCALES_KEY = language.LOCALES_KEY

csrf = CSRFProtect()
babel = Babel()


def create_app(config: Config | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the source app. Without arguments, configure it from the environment.

    `config` governs the app (limits, cookies, derivations); `runtime` holds the
    resources (database, Redis, keyring, store). Either may be derived from the other.
    """
    if config is None:
        config = runtime.config if runtime is not None else load_config(interface="source")
    if runtime is None:
        runtime = build_runtime(config, side="source")
    secrets = config.secrets.for_source()  # ConfigError when this process holds none
    if not secrets.cookie_key or not secrets.session_pepper:
        raise ConfigError("the source interface's secrets are missing")

    app = rendering.SyncApp(__name__)
    app.request_class = SealingRequest
    app.secret_key = secrets.cookie_key
    app.config.update(
        {
            CONFIG_KEY: config,
            "SESSION_COOKIE_NAME": "src",
            "SESSION_COOKIE_SECURE": config.secure_cookies,
            "MAX_CONTENT_LENGTH": config.max_upload_bytes,
            "MAX_FORM_MEMORY_SIZE": config.max_form_field_bytes,
            "MAX_FORM_PARTS": MAX_FORM_PARTS,
            # One clock only: a CSRF token lives as long as its session (idle timeout).
            "WTF_CSRF_TIME_LIMIT": None,
            # Strict mode demands a Referer on HTTPS, which our no-referrer policy never
            # sends; the token plus a SameSite=Strict cookie already bind the form.
            "WTF_CSRF_SSL_STRICT": False,
            "BABEL_DEFAULT_LOCALE": DEFAULT_LOCALE,
        }
    )
    app.extensions[RUNTIME_KEY] = runtime
    app.session_interface = RedisSessionInterface(
        runtime.redis,
        prefix="source-session",
        idle_seconds=config.session_idle_seconds,
        pepper=secrets.session_pepper,
    )
    app.before_request(refuse_unreadable_session)
    # Keys deleted elsewhere (a deleted source's reply key) leave this process's home.
    app.before_request(runtime.purge_retired_keys_now_and_then)

    # Order matters: an upload beyond the worker's cap is refused before anything reads
    # its body, and tor2web is refused before the CSRF check reads (parses) any body.
    upload_slots.install(app, SOURCE_POLICY)
    # An upload that cannot be stored (disk reserve, quota) is refused before anything
    # parses its body (the NUL check and CSRF do); it reads no body itself.
    app.before_request(refuse_unstorable_upload)
    security.install(app, production=config.production, onion_host=config.source_onion_host)
    # Flask-WTF's check and token, cheaper (web_shared/csrf_tokens.py).
    csrf_tokens.install(app, csrf)
    babel.init_app(app, locale_selector=language.select_locale)
    rendering.install(app)
    with app.app_context():
        app.config[_LOCALES_KEY] = [str(locale) for locale in babel.list_translations()]

    app.register_blueprint(main.bp)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(alert.bp)
    app.register_blueprint(assist.bp)
    app.register_blueprint(consent.bp)
    app.register_blueprint(language.bp)
    app.register_blueprint(public_key.bp)
    app.register_blueprint(custody_receipts.bp)
    app.register_blueprint(figures.bp)  # published statistics, off by default
    errors.register(app)
    app.teardown_request(discard_unfinished_uploads)
    install_transactions(app)  # the request commits, or rolls back on failure
    app.context_processor(language.template_globals)
    return app
