"""Bearer tokens for the reviewer API: signed, expiring, revocable.

A token is `<payload>.<mac>`: the payload (base64url JSON) names the reviewer, a random
token id, the expiry, and a keyed digest of the reviewer's credential stamp; the MAC is
HMAC-SHA256 under a key derived from the reviewer interface's API-token key with a
context of its own, so no other signature made with that secret (in an instance migrated
from one secrets file it is also the CSRF key) can pass for a token. Only the reviewer
interface's process holds that key: the source interface cannot mint a token.

Nothing is stored to issue a token. Revocation (logout) writes the token id to Redis
until the token would have expired anyway, in one key without a TTL, so Redis's memory
policy (volatile-lru: only keys with a TTL are evicted) never drops it. Redis keeps
nothing on disk: a Redis restarted with an empty dataset has forgotten every revocation,
so a token also carries the Redis "epoch" it was issued under (a random value Redis
holds, also without a TTL, made afresh when missing), and a token of another epoch is
refused. Losing Redis ends every token, as it ends every session: it never revives a
revoked one. A passphrase or 2FA reset, and a
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
# Token id -> expiry (a sorted set), and the epoch: neither has a TTL (see above).
_REVOKED_KEY = "api-token-revoked"
_EPOCH_KEY = "api-token-epoch"


class InvalidTokenError(VaultError):
    """Malformed, forged, expired, revoked, or its account changed. Deliberately vague."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_at: dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _text(value: object) -> str | None:
    """A Redis reply as text, whatever the client's decoding."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


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
        claims["rep"] = self._epoch()
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
        for name in ("sub", "jti", "stm", "rep"):
            if not isinstance(claims.get(name), str):
                raise InvalidTokenError("malformed token")
        return claims

    def verify(self, db: Session, token: str, *, now: float | None = None) -> Reviewer:
        """The active reviewer a valid token belongs to, else InvalidTokenError."""
        claims = self._claims(token, now)
        epoch = _text(self._redis.get(_EPOCH_KEY))
        if epoch is None or not hmac.compare_digest(epoch.encode(), str(claims["rep"]).encode()):
            raise InvalidTokenError("issued before Redis lost its data")
        if self._redis.zscore(_REVOKED_KEY, str(claims["jti"])) is not None:
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
        current = int(time.time() if now is None else now)
        with self._redis.pipeline(transaction=True) as pipe:
            # The set holds only tokens that could still be used: a couple of hours'
            # logouts. The expired ones go at each revocation.
            pipe.zremrangebyscore(_REVOKED_KEY, "-inf", current - 60)
            pipe.zadd(_REVOKED_KEY, {str(claims["jti"]): int(str(claims["exp"]))})
            pipe.execute()

    def _epoch(self) -> str:
        """This Redis's token epoch, made now if it has none (a first start, or a
        restart that lost the dataset): SET NX GET answers the one already there."""
        fresh = secrets.token_urlsafe(12)
        held = _text(self._redis.set(_EPOCH_KEY, fresh, nx=True, get=True))
        return fresh if held is None else held
