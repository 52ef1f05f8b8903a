"""Server-side sessions in Redis, sealed with a key only the browser holds.

The cookie carries one random 256-bit token and nothing else. Redis stores the session
under sha256(token), encrypted with AES-GCM under a key derived from the token: a copy
of Redis alone opens no session and reveals nothing of what a session holds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from redis import Redis
from werkzeug.datastructures import CallbackDict

_TOKEN_BYTES = 32


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, token: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.modified = False
        self.destroyed = False
        self.rotate = False

    def regenerate(self) -> None:
        """New token on privilege change (login): the old one becomes worthless."""
        self.rotate = True
        self.modified = True

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

    # -- SessionInterface -----------------------------------------------------------
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) != 43:
            return ServerSession()
        try:
            blob = self.redis.get(self._storage_key(token))
            if not blob or not isinstance(blob, bytes):
                return ServerSession()
            plain = self._aead(token).decrypt(blob[:12], blob[12:], self.prefix.encode())
            return ServerSession(json.loads(plain), token=token)
        except (InvalidTag, ValueError):
            return ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession):  # open_session always makes one
            raise TypeError("unexpected session type")
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if session.token and (session.destroyed or session.rotate or not session):
            self.redis.delete(self._storage_key(session.token))
        if session.destroyed or not session:
            if session.token:
                response.delete_cookie(name, domain=domain, path=path)
            return
        if session.rotate or session.token is None:
            session.token = self._new_token()
        token = session.token
        nonce = secrets.token_bytes(12)
        sealed = self._aead(token).encrypt(
            nonce, json.dumps(dict(session)).encode(), self.prefix.encode()
        )
        # Every request refreshes the expiry: the timeout counts idle time.
        self.redis.set(self._storage_key(token), nonce + sealed, ex=self.idle_seconds)
        response.set_cookie(
            name,
            token,
            httponly=True,
            secure=self.get_cookie_secure(app),
            samesite="Strict",
            domain=domain,
            path=path,
        )
        response.vary.add("Cookie")
