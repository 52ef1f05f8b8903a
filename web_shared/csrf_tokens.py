"""Flask-WTF's CSRF token, with its serializer built once per app and key.

`flask_wtf.csrf.generate_csrf` builds an itsdangerous `URLSafeTimedSerializer` (and,
through it, a signer) on every call: on the codename page, which every visit renders
afresh, that was as long as signing the token itself. Here the serializer is kept in
the app's extensions per secret key. Everything else is Flask-WTF's: a raw token of the
same form (160 random bits in hex) in the session under the same field name, the same
salt and key, so `CSRFProtect` and `flask_wtf.csrf.validate_csrf` check these tokens
unchanged; the token is made once per request and kept on `g`, as Flask-WTF does.
"""

from __future__ import annotations

import secrets

from flask import current_app, g, session
from itsdangerous import URLSafeTimedSerializer

__all__ = ["generate_csrf"]

_SALT = "wtf-csrf-token"  # flask_wtf.csrf's
_SERIALIZERS = "backup_csrf_serializers"


def generate_csrf() -> str:
    """The signed CSRF token of this request (flask_wtf.csrf.generate_csrf's)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = g.get(field)
    if isinstance(token, str):
        return token
    secret = config.get("WTF_CSRF_SECRET_KEY", app.secret_key)
    if not secret or not field:
        raise RuntimeError("A secret key and a field name are required to use CSRF.")
    serializers: dict[str | bytes, URLSafeTimedSerializer] = app.extensions.setdefault(
        _SERIALIZERS, {}
    )
    serializer = serializers.get(secret)
    if serializer is None:
        serializer = serializers[secret] = URLSafeTimedSerializer(secret, salt=_SALT)
    raw = session.get(field)
    if not isinstance(raw, str):
        # 40 random hex digits, the form of Flask-WTF's (the SHA-1 of 64 random bytes);
        # a value it could not compare is replaced too.
        raw = session[field] = secrets.token_hex(20)
    token = serializer.dumps(raw)
    setattr(g, field, token)
    return str(token)
