"""Flask-WTF's CSRF token, signed with a key derived once per app, and the check of a
form's token run only for the methods that carry one.

`flask_wtf.csrf.generate_csrf` signs its token with an itsdangerous
`URLSafeTimedSerializer` built on every call; each signature then derives its key
again (a SHA-1 of salt and secret), builds an HMAC, JSON-encodes the token and tries
to zlib-compress it. On the codename page, which every visit renders afresh, that was
the largest single cost of our own. Here the HMAC is keyed once per app and secret
and copied per token. The token is the one itsdangerous's `dumps` makes: the JSON
string of the raw token, base64url, a base64url timestamp, and HMAC-SHA1 under
SHA-1(salt + "signer" + secret), joined by "."; only its payload is never compressed
(itsdangerous compresses a payload when that shortens it, which 42 bytes of random
hex never are, and reads both forms). So `CSRFProtect` and `flask_wtf.csrf.validate_csrf`
check these tokens unchanged (tests/unit/web_shared/test_csrf_tokens.py compares the
two byte for byte). As Flask-WTF does, the raw token (160 random bits in hex) lives in
the session under the same field name, and the token is made once per request and kept
on `g`.

`install` replaces Flask-WTF's `before_request` check with one that asks first whether
the request's method is one a token protects: Flask-WTF looks up the view's exemptions
first, on every GET too. The check itself is Flask-WTF's `protect`, unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from flask import Flask, current_app, g, request, session
from flask_wtf.csrf import CSRFProtect

__all__ = ["generate_csrf", "install"]

_SALT = b"wtf-csrf-token"  # flask_wtf.csrf's
_SIGNERS = "backup_csrf_signers"


def _b64(data: bytes) -> bytes:
    """itsdangerous's `base64_encode`: base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class _Signer:
    """itsdangerous's `TimestampSigner` with its defaults (django-concat key
    derivation, HMAC-SHA1, "." between parts), its key derived once."""

    __slots__ = ("_mac", "_second", "_stamp")

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        # SHA-1 and HMAC-SHA1 because itsdangerous derives and signs so (Flask-WTF checks
        # the token with it); HMAC-SHA1 is not weakened by SHA-1's collisions.
        derived = hashlib.sha1(_SALT + b"signer" + key).digest()  # noqa: S324  # nosec B324
        self._mac = hmac.new(derived, digestmod=hashlib.sha1)
        self._second = -1
        self._stamp = b""

    def dumps(self, raw: str) -> str:
        """`URLSafeTimedSerializer(secret, salt).dumps(raw)` for a raw token of
        letters and digits (its JSON is the token in quotes)."""
        now = int(time.time())
        if now != self._second:  # the same timestamp for every token of a second
            self._stamp = _b64(now.to_bytes((now.bit_length() + 7) // 8 or 1, "big"))
            self._second = now
        value = _b64(b'"' + raw.encode() + b'"') + b"." + self._stamp
        mac = self._mac.copy()
        mac.update(value)
        return (value + b"." + _b64(mac.digest())).decode()


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
    signers: dict[str | bytes, _Signer] = app.extensions.setdefault(_SIGNERS, {})
    signer = signers.get(secret)
    if signer is None:
        signer = signers[secret] = _Signer(secret)
    raw = session.get(field)
    if not isinstance(raw, str) or not raw.isalnum() or not raw.isascii():
        # 40 random hex digits, the form of Flask-WTF's (the SHA-1 of 64 random bytes);
        # a value it could not compare, or one whose JSON is not the value in quotes,
        # is replaced too.
        raw = session[field] = secrets.token_hex(20)
    token = signer.dumps(raw)
    setattr(g, field, token)
    return token


def install(app: Flask, csrf: CSRFProtect) -> None:
    """`csrf.init_app(app)`, its check run only for the methods it protects.

    Call it where Flask-WTF's hook would go: the check runs in that place among the
    app's `before_request` hooks.
    """
    csrf.init_app(app)
    # Flask-WTF's own hook stays registered and returns at once.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    config = app.config

    def csrf_protect() -> None:
        if request.method in config["WTF_CSRF_METHODS"] and config["WTF_CSRF_ENABLED"]:
            csrf.protect(apply_exemptions=True)

    app.before_request(csrf_protect)
    # Templates get this token function; Flask-WTF's context processor offers its own,
    # so ours comes after it (later processors win).
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.context_processor(_token_function)


def _token_function() -> dict[str, object]:
    return {"csrf_token": generate_csrf}
