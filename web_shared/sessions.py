"""Sessions: server-side in Redis once someone logs in, a sealed cookie before that.

A logged-in session (one that was `regenerate()`d at login) lives in Redis. The cookie
carries one random 256-bit token and nothing else; Redis stores the session under
sha256(token), encrypted with AES-GCM under a key derived from the token: a copy of
Redis alone opens no session and reveals nothing of what a session holds.

Before login (a CSRF token, the language, the codename shown on "I am new") the session
is kept by the visitor's browser instead: a cookie sealed with AES-GCM under a key
derived from the server's session pepper, bound to this app's prefix and purpose, and
valid for the idle timeout only. Anonymous page views thus write nothing on the server
(a flood of them costs Redis nothing), and the cookie is unreadable and unforgeable:
a visitor can neither read it nor choose its content (e.g. their own codename).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, Request, Response, abort, session
from flask.sessions import SessionInterface, SessionMixin
from redis import Redis, RedisError
from werkzeug.datastructures import CallbackDict
from werkzeug.http import dump_cookie

_TOKEN_BYTES = 32
_TOKEN_CHARS = 43  # base64url of 32 bytes, unpadded
# Anonymous cookies start with this (a token never does: it has no ".").
_ANONYMOUS_MARK = "a."
# Browsers keep cookies up to 4096 bytes; an anonymous session holds a few dozen.
_MAX_ANONYMOUS_COOKIE = 4000
# json.dumps with arguments builds an encoder per call; this one is built once.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
# What our cookie values are made of (base64url, "a." and "="): none of it is quoted
# in a Set-Cookie header, so each value fits a header framed once per app (below).
_PLAIN_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_\-.=]{1,4000}")
_COOKIE_MARK = "0backupcookievalue0"


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, token: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.modified = False
        self.destroyed = False
        self.rotate = False
        # Kept in Redis (logged in) rather than in a sealed cookie (anonymous).
        self.server_side = token is not None
        self.had_cookie = False  # the request carried a session cookie to clear
        # Redis could not be asked: the visitor's session exists but cannot be read now.
        self.unavailable = False

    def regenerate(self) -> None:
        """New token on privilege change (login): the old one becomes worthless, and
        from now on the session lives in Redis, never in the browser."""
        self.rotate = True
        self.modified = True
        self.server_side = True

    def destroy(self) -> None:
        """Wipe the session from Redis and the browser (logout)."""
        self.clear()
        self.destroyed = True
        self.modified = True


class RedisSessionInterface(SessionInterface):
    def __init__(self, redis: Redis, *, prefix: str, idle_seconds: int, pepper: bytes) -> None:
        self.redis = redis
        self.prefix = prefix
        self.idle_seconds = idle_seconds
        self.pepper = pepper
        # Its own key, bound to this app: a source app cookie opens nothing elsewhere.
        # (name, domain, path, secure) -> the Set-Cookie header before and after the value
        self._cookie_frames: dict[tuple[str, str | None, str, bool], tuple[str, str] | None] = {}
        self._anonymous_aead = AESGCM(
            HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"backup-anonymous-session:" + prefix.encode(),
            ).derive(pepper)
        )

    # -- key handling ---------------------------------------------------------------
    def _storage_key(self, token: str) -> str:
        digest = hashlib.sha256(self.pepper + token.encode()).hexdigest()
        return f"{self.prefix}:{digest}"

    def _aead(self, token: str) -> AESGCM:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=self.pepper, info=b"backup-session"
        ).derive(raw)
        return AESGCM(key)

    @staticmethod
    def _new_token() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(_TOKEN_BYTES)).decode().rstrip("=")

    # -- anonymous sessions: sealed cookies ------------------------------------------
    def _anonymous_aad(self) -> bytes:
        return f"{self.prefix}:anonymous".encode()

    def seal_anonymous(self, data: dict[str, Any], now: float | None = None) -> str:
        """The cookie value of an anonymous session: issue time and data, sealed."""
        issued = int(time.time() if now is None else now)
        plain = _COMPACT_JSON.encode({"t": issued, "d": data}).encode()
        nonce = secrets.token_bytes(12)
        sealed = self._anonymous_aead.encrypt(nonce, plain, self._anonymous_aad())
        return _ANONYMOUS_MARK + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open_anonymous(self, value: str, now: float | None = None) -> dict[str, Any] | None:
        """The data of a sealed anonymous cookie, or None if forged, altered or expired."""
        if not value.startswith(_ANONYMOUS_MARK) or len(value) > _MAX_ANONYMOUS_COOKIE:
            return None
        body = value[len(_ANONYMOUS_MARK) :]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self._anonymous_aead.decrypt(blob[:12], blob[12:], self._anonymous_aad())
            content = json.loads(plain)
        except (InvalidTag, ValueError):
            return None
        if not isinstance(content, dict) or not isinstance(content.get("d"), dict):
            return None
        issued = content.get("t")
        age = (time.time() if now is None else now) - (issued if isinstance(issued, int) else 0)
        if not 0 <= age <= self.idle_seconds:
            return None
        data: dict[str, Any] = content["d"]
        return data

    # -- SessionInterface -----------------------------------------------------------
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        session = self._open(token) if token else ServerSession()
        session.had_cookie = bool(token)
        return session

    def _open(self, token: str) -> ServerSession:
        if token.startswith(_ANONYMOUS_MARK):
            return ServerSession(self.open_anonymous(token))
        if len(token) != _TOKEN_CHARS:
            return ServerSession()
        try:
            blob = self.redis.get(self._storage_key(token))
        except RedisError:
            # An empty session rather than an exception: the error page (which reads the
            # session for its language) can still be shown, and nothing is overwritten.
            unavailable = ServerSession(token=token)
            unavailable.unavailable = True
            return unavailable
        try:
            if not blob or not isinstance(blob, bytes):
                return ServerSession()
            plain = self._aead(token).decrypt(blob[:12], blob[12:], self.prefix.encode())
            return ServerSession(json.loads(plain), token=token)
        except (InvalidTag, ValueError):
            return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession):  # open_session always makes one
            raise TypeError("unexpected session type")
        if session.unavailable:
            return  # keep the cookie and whatever Redis holds for it
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if session.token and (session.destroyed or session.rotate or not session):
            self.redis.delete(self._storage_key(session.token))
        if session.destroyed or not session:
            if session.token or session.had_cookie:
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not session.server_side:
            # Not logged in: nothing is written on the server; the browser keeps it.
            value = self.seal_anonymous(dict(session))
        else:
            if session.rotate or session.token is None:
                session.token = self._new_token()
            value = session.token
            nonce = secrets.token_bytes(12)
            sealed = self._aead(value).encrypt(
                nonce, json.dumps(dict(session)).encode(), self.prefix.encode()
            )
            # Every request refreshes the expiry: the timeout counts idle time. The TTL
            # also makes the entry evictable under memory pressure (docs/admin.md).
            self.redis.set(self._storage_key(value), nonce + sealed, ex=self.idle_seconds)
        self._set_cookie(response, name, value, domain, path, self.get_cookie_secure(app))
        # `response.vary` parses the header into a set and writes it back; a response
        # with no Vary yet (nearly all) just gets one.
        if response.headers.getlist("Vary"):
            response.vary.add("Cookie")
        else:
            response.headers.add("Vary", "Cookie")

    def _set_cookie(
        self,
        response: Response,
        name: str,
        value: str,
        domain: str | None,
        path: str,
        secure: bool,
    ) -> None:
        """`response.set_cookie(name, value, httponly=True, samesite="Strict", ...)`.

        Werkzeug builds the whole header for each response (the path quoted, the
        domain encoded, the attributes checked and joined); only the value changes
        between our cookies, so the header around it is built once, by Werkzeug, and
        kept. A value that Werkzeug would quote (none of ours) is set its way.
        """
        key = (name, domain, path, secure)
        if key not in self._cookie_frames:
            header = dump_cookie(
                name,
                _COOKIE_MARK,
                path=path,
                domain=domain,
                secure=secure,
                httponly=True,
                samesite="Strict",
            )
            parts = header.split(_COOKIE_MARK)
            self._cookie_frames[key] = (parts[0], parts[1]) if len(parts) == 2 else None
        frame = self._cookie_frames[key]
        if frame is None or not _PLAIN_COOKIE_VALUE.fullmatch(value):
            response.set_cookie(
                name,
                value,
                httponly=True,
                secure=secure,
                samesite="Strict",
                domain=domain,
                path=path,
            )
            return
        response.headers.add("Set-Cookie", frame[0] + value + frame[1])


def refuse_unreadable_session() -> None:
    """`before_request`: a visitor whose session Redis cannot give back now gets the
    neutral 503 page ("try again later") instead of being treated as logged out."""
    if isinstance(session, ServerSession) and session.unavailable:
        abort(503)
