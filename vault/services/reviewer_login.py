"""Reviewer login: the passphrase (argon2id, with the same work for unknown usernames),
the TOTP code accepted once (replay protection), the per-client budget, the session's
reviewer and logout. Every login, failed or not, and every logout is audited; a failed
login's event is kept though the caller's transaction rolls back (`audit.record_refusal`).
Accounts themselves are `vault.services.reviewers`.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from functools import cache
from typing import NoReturn

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from vault.config import Config
from vault.db import utcnow
from vault.errors import AuthenticationError, TotpReplayError
from vault.models import Reviewer
from vault.models.reviewer import USERNAME_MAX
from vault.services import audit, unread
from vault.services.reviewers import (
    DEFAULT_HASHER,
    MAX_PASSPHRASE_CHARS,
    USERNAME_MIN,
    USERNAME_PATTERN,
    credential_stamp,
    make_hasher,
    totp_secret,
)
from vault.throttle import ClientBudget

__all__ = [
    "BUDGET_SCOPE",
    "TOTP_WINDOW",
    "authenticate",
    "load_session_reviewer",
    "login_budget",
    "record_logout",
    "totp_step",
    "verify_totp",
]


TOTP_WINDOW = 1


BUDGET_SCOPE = "reviewer-login"


_CODE = re.compile(r"^[0-9]{6}$")


@cache
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    """A hash of a random value with the given costs, for unknown usernames."""
    hasher = make_hasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher.hash(secrets.token_hex(32))


def _verify_passphrase(hasher: PasswordHasher, stored: str, passphrase: str) -> bool:
    try:
        return hasher.verify(stored, passphrase)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_verify(hasher: PasswordHasher, passphrase: str) -> None:
    """Spend the same time as a real verification, so timing reveals no username."""
    stored = _dummy_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    _verify_passphrase(hasher, stored, passphrase)


def totp_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time-step within ±1 step of `at` whose code is `code`, or None.

    Every candidate is compared in constant time, and all of them are always compared,
    so timing says nothing about which step (if any) matched. Should two steps give the
    same code, the later one is returned (the stricter choice for replay protection).
    """
    code = "".join(code.split())
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time() if at is None else at)
    matched: int | None = None
    for step in range(now - TOTP_WINDOW, now + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            matched = step
    return matched


def verify_totp(db: Session, reviewer: Reviewer, code: str, *, at: float | None = None) -> int:
    """Accept `code` once: store its time-step so it (and any earlier one) is refused later.

    Raises AuthenticationError for a wrong code, TotpReplayError for a code whose step is
    not after the last accepted one. The step is written with a conditional UPDATE, so
    two concurrent requests with the same code cannot both succeed. Does not commit.
    """
    step = totp_step(totp_secret(db, reviewer), code, at)
    if step is None:
        raise AuthenticationError("wrong code")
    if step <= reviewer.last_totp_step:
        raise TotpReplayError("code already used")
    result = db.execute(
        update(Reviewer)
        .where(Reviewer.id == reviewer.id, Reviewer.last_totp_step < step)
        .values(last_totp_step=step)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise TotpReplayError("code already used")
    # The row already holds `step`: record it as the loaded value, not as a pending change,
    # so a later change in this session (a 2FA reset to 0) is not mistaken for a no-op.
    set_committed_value(reviewer, "last_totp_step", step)
    return step


def login_budget(redis: Redis, config: Config) -> ClientBudget:
    """The per-client budget shared by web logins and API token requests."""
    return ClientBudget(redis, BUDGET_SCOPE, config.reviewer_login_budget)


def _well_formed(username: str, passphrase: str, code: str) -> bool:
    """What any real attempt looks like: checked before the budget and any hashing."""
    return (
        USERNAME_MIN <= len(username) <= USERNAME_MAX
        and USERNAME_PATTERN.match(username) is not None
        and 0 < len(passphrase)
        and _CODE.match("".join(code.split())) is not None
    )


def authenticate(
    db: Session,
    budget: ClientBudget,
    client: str,
    username: str,
    passphrase: str,
    code: str,
    *,
    hasher: PasswordHasher = DEFAULT_HASHER,
    at: float | None = None,
) -> Reviewer:
    """Log a reviewer in with passphrase and TOTP code.

    The cheap checks come first. A malformed attempt (no possible username, an empty
    passphrase, a code that is not 6 digits) is refused with AuthenticationError at no
    cost; then `client`'s budget is charged (LoginThrottledError after one Redis round
    trip, before any hashing or database work). No account is ever locked: only the
    client that floods waits, and a named reviewer logs in from any other client.

    Raises AuthenticationError (the same for an unknown username, a deactivated account,
    a wrong passphrase or a wrong code), or TotpReplayError (a reused code, reported only
    once the passphrase was right). Records the accepted step and an audit event; a
    failure is audited even though the caller rolls back (`audit.record_refusal`).
    """
    key = username.strip().lower()
    passphrase = passphrase[:MAX_PASSPHRASE_CHARS]
    if not _well_formed(key, passphrase, code):
        raise AuthenticationError("login failed")
    budget.spend(client)
    reviewer = db.scalar(select(Reviewer).where(Reviewer.username == key))
    if reviewer is None:
        _dummy_verify(hasher, passphrase)
        _fail(db, None)
    if not _verify_passphrase(hasher, reviewer.passphrase_hash, passphrase):
        _fail(db, reviewer)
    if not reviewer.is_active:
        _fail(db, reviewer)
    try:
        verify_totp(db, reviewer, code, at=at)
    except AuthenticationError:
        audit.record_refusal(db, None, "login_failed", "reviewer", reviewer.uuid)
        raise
    if hasher.check_needs_rehash(reviewer.passphrase_hash):
        reviewer.passphrase_hash = hasher.hash(passphrase)
    reviewer.last_login_at = utcnow()
    unread.resync(db, reviewer)
    audit.record(db, reviewer, "login", "reviewer", reviewer.uuid)
    return reviewer


def _fail(db: Session, reviewer: Reviewer | None) -> NoReturn:
    # The attempted username is never recorded: people type passphrases into it.
    if reviewer is None:
        audit.record_refusal(db, None, "login_failed")
    else:
        audit.record_refusal(db, None, "login_failed", "reviewer", reviewer.uuid)
    raise AuthenticationError("login failed")


def load_session_reviewer(db: Session, reviewer_uuid: str, stamp: str) -> Reviewer | None:
    """The reviewer a session belongs to, or None if deactivated or credentials reset."""
    reviewer = db.scalar(
        select(Reviewer).where(Reviewer.uuid == reviewer_uuid, Reviewer.is_active.is_(True))
    )
    if reviewer is None or not hmac.compare_digest(credential_stamp(reviewer), stamp):
        return None
    return reviewer


def record_logout(db: Session, reviewer: Reviewer) -> None:
    audit.record(db, reviewer, "logout", "reviewer", reviewer.uuid)
