"""Bearer tokens for the reviewer API: signed, expiring, revocable.

A token is `<payload>.<mac>`: the payload (base64url JSON) names the reviewer, a random
token id, the expiry, and a keyed digest of the reviewer's credential stamp; the MAC is
HMAC-SHA256 under a key derived from the reviewer interface's API-token key with a
context of its own, so no other signature made with that secret (in an instance migrated
from one secrets file it is also the CSRF key) can pass for a token. Only the reviewer
interface's process holds that key: the source interface cannot mint a token.

Nothing is stored to issue a token. Revocation (logout) writes the token id to Redis
until the token would have expired anyway. A passphrase or 2FA reset, and a
deactivation (it raises the account's credential generation), change the credential
stamp, so each ends every token at once and for good, exactly as it ends HTML sessions:
reactivating the account does not revive them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.errors import VaultError
from vault.models import Reviewer
from vault.services import reviewers

__all__ = [
    "TOKEN_LIFETIME_SECONDS",
    "InvalidTokenError",
    "IssuedToken",
    "TokenService",
]

# SecureDrop's API tokens live two hours; a reviewer re-authenticates after that.
TOKEN_LIFETIME_SECONDS = 2 * 60 * 60
MAX_TOKEN_CHARS = 512
_KEY_CONTEXT = b"backup/reviewer-api-token/v1"
_STAMP_CONTEXT = b"stamp\0"
_REVOKED_PREFIX = "api-token-revoked:"


class InvalidTokenError(VaultError):
    """Malformed, forged, expired, revoked, or its account changed. Deliberately vague."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_at: dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenService:
    """Issues and checks tokens for one instance (its secret) and one Redis."""

    def __init__(
        self, secret: bytes, redis: Redis, *, lifetime_seconds: int = TOKEN_LIFETIME_SECONDS
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the token key needs at least 256 bits of secret")
        self._key = hmac.new(secret, _KEY_CONTEXT, hashlib.sha256).digest()
        self._redis = redis
        self.lifetime_seconds = lifetime_seconds

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def _stamp_digest(self, reviewer: Reviewer) -> str:
        # The stamp derives from the passphrase hash and TOTP secret: only a keyed
        # digest of it leaves the server, inside the token.
        stamp = reviewers.credential_stamp(reviewer).encode()
        return _b64(hmac.new(self._key, _STAMP_CONTEXT + stamp, hashlib.sha256).digest()[:16])

    def issue(self, reviewer: Reviewer, *, now: float | None = None) -> IssuedToken:
        issued = time.time() if now is None else now
        expires = int(issued) + self.lifetime_seconds
        token_id = secrets.token_urlsafe(18)
        claims = {"sub": reviewer.uuid, "jti": token_id, "exp": expires}
        claims["stm"] = self._stamp_digest(reviewer)
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return IssuedToken(
            token=f"{payload}.{self._mac(payload)}",
            token_id=token_id,
            expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
        )

    def _claims(self, token: str, now: float | None) -> dict[str, object]:
        # Tokens are ASCII (base64url and a dot): anything else, such as the latin-1
        # characters a header may carry, is malformed, not an error.
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise InvalidTokenError("malformed token")
        if token.count(".") != 1:
            raise InvalidTokenError("malformed token")
        payload, mac = token.split(".")
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode("ascii", "replace")):
            raise InvalidTokenError("bad signature")
        try:
            claims = json.loads(_unb64(payload))
        except (ValueError, binascii.Error) as exc:  # only reachable with our own key
            raise InvalidTokenError("malformed token") from exc
        if not isinstance(claims, dict):
            raise InvalidTokenError("malformed token")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= (time.time() if now is None else now):
            raise InvalidTokenError("expired token")
        for name in ("sub", "jti", "stm"):
            if not isinstance(claims.get(name), str):
                raise InvalidTokenError("malformed token")
        return claims

    def verify(self, db: Session, token: str, *, now: float | None = None) -> Reviewer:
        """The active reviewer a valid token belongs to, else InvalidTokenError."""
        claims = self._claims(token, now)
        if self._redis.exists(_REVOKED_PREFIX + str(claims["jti"])):
            raise InvalidTokenError("revoked token")
        reviewer = db.scalar(
            select(Reviewer).where(
                Reviewer.uuid == str(claims["sub"]), Reviewer.is_active.is_(True)
            )
        )
        if reviewer is None or not hmac.compare_digest(
            self._stamp_digest(reviewer), str(claims["stm"])
        ):
            raise InvalidTokenError("account changed")
        return reviewer

    def revoke(self, token: str, *, now: float | None = None) -> None:
        """Refuse this token from now on (kept in Redis until it would expire anyway)."""
        try:
            claims = self._claims(token, now)
        except InvalidTokenError:
            return  # already unusable
        remaining = int(str(claims["exp"])) - int(time.time() if now is None else now)
        self._redis.set(_REVOKED_PREFIX + str(claims["jti"]), b"1", ex=max(remaining, 1) + 60)
