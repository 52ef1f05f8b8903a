"""The reviewer API, wire-compatible with SecureDrop's Journalist API v1.

`init_app` registers the v1 blueprint under `/api/v1/`. The blueprint has its own gate
(a bearer token in `Authorization: Token …`, never a cookie, hence no CSRF), and every
answer under `/api/` is JSON, errors included, because SecureDrop's clients parse every
response but downloads as JSON. BackUp's own additions, when they come, get a separate
prefix so that v1's shapes never change.
"""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect

from composition.runtime import Runtime
from journalist_app.api import errors, v1
from journalist_app.context import RUNTIME_KEY
from vault.services.api_tokens import TokenService

__all__ = ["API_PREFIX", "error_response", "init_app", "is_api_request"]

API_PREFIX = "/api/"


def is_api_request() -> bool:
    """Is this request for the API: it gets JSON, and the token gate instead of the login
    redirect. Only the API blueprint's routes (or no route at all: a 404/405 to answer)
    qualify, so no HTML view can ever slip past the login gate through this."""
    if not request.path.startswith(API_PREFIX):
        return False
    return request.endpoint is None or request.blueprint == v1.bp.name


def error_response(code: int) -> ResponseReturnValue:
    return errors.json_error(code)


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    runtime: Runtime = app.extensions[RUNTIME_KEY]
    app.extensions[v1.TOKENS_KEY] = TokenService(
        runtime.config.secrets.for_journalist().api_token_key, runtime.redis
    )
    # The token travels in a header the browser never adds by itself: no CSRF possible.
    csrf.exempt(v1.bp)
    app.register_blueprint(v1.bp)
