"""Reviewer accounts: generated credentials (argon2id passphrases, sealed TOTP secrets),
roles, and the admin operations on accounts. Every change is audited. Logging in with
them is `vault.services.reviewer_login`.

Passphrases are generated here (7 diceware words, ~90 bits), never chosen by people, and
are shown once. The argon2id cost is injectable (`hasher=`) so tests can run fast; the
default is RFC 9106's low-memory profile (64 MiB, t=3, p=4).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid as uuidlib

import pyotp
from argon2 import PasswordHasher, Type
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.codenames import codename_words
from vault.column_key import TOTP_SECRET, column_key_of
from vault.errors import NotFoundError, VaultError
from vault.models import Reviewer, Role
from vault.models.reviewer import USERNAME_MAX
from vault.services import audit, unread
from vault.transaction import savepoint

__all__ = [
    "DEFAULT_HASHER",
    "MAX_PASSPHRASE_CHARS",
    "PASSPHRASE_WORDS",
    "TOTP_ISSUER",
    "USERNAME_MIN",
    "AccessDeniedError",
    "InvalidUsernameError",
    "LastAdminError",
    "UsernameTakenError",
    "can_read_sources",
    "change_role",
    "create_reviewer",
    "credential_stamp",
    "generate_otp_secret",
    "generate_passphrase",
    "get_reviewer",
    "list_reviewers",
    "make_hasher",
    "normalize_username",
    "provisioning_uri",
    "require_admin",
    "reset_passphrase",
    "reset_totp",
    "set_active",
    "set_totp_secret",
    "totp_secret",
]

PASSPHRASE_WORDS = 7
TOTP_ISSUER = "BackUp"
# Codes from the previous and the next 30-second step are accepted (clock drift).
MAX_PASSPHRASE_CHARS = 1024
USERNAME_MIN = 3
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class InvalidUsernameError(VaultError):
    """A username that is too short, too long or has characters other than a-z0-9._-."""


class UsernameTakenError(VaultError):
    """Another reviewer already has this username."""


class LastAdminError(VaultError):
    """The change would leave no active admin: nobody could manage accounts any more."""


class AccessDeniedError(VaultError):
    """The reviewer's role does not allow this."""


# -- argon2id ------------------------------------------------------------------------------


def make_hasher(
    *, time_cost: int | None = None, memory_cost: int | None = None, parallelism: int | None = None
) -> PasswordHasher:
    """An argon2id hasher; unset costs come from RFC 9106's low-memory profile.

    .. danger:: lower costs are for tests only.
    """
    base = RFC_9106_LOW_MEMORY
    return PasswordHasher(
        time_cost=base.time_cost if time_cost is None else time_cost,
        memory_cost=base.memory_cost if memory_cost is None else memory_cost,
        parallelism=base.parallelism if parallelism is None else parallelism,
        hash_len=base.hash_len,
        salt_len=base.salt_len,
        type=Type.ID,
    )


DEFAULT_HASHER = make_hasher()


# -- credentials ---------------------------------------------------------------------------


def generate_passphrase(words: int = PASSPHRASE_WORDS) -> str:
    """Diceware words from the EFF large list chosen with `secrets` (7 words ≈ 90 bits)."""
    wordlist = codename_words()
    return " ".join(secrets.choice(wordlist) for _ in range(words))


def generate_otp_secret() -> str:
    """A 160-bit base32 TOTP secret."""
    return pyotp.random_base32()


def totp_secret(db: Session, reviewer: Reviewer) -> str:
    """The reviewer's TOTP secret (base32), opened with the key bound to `db`.

    The database holds it sealed only (vault.column_key): a dump of the database alone
    yields no secret. Raises SealedColumnError if it does not open (another key or row).
    """
    return column_key_of(db).open(reviewer.otp_secret_sealed, TOTP_SECRET, reviewer.uuid)


def set_totp_secret(db: Session, reviewer: Reviewer, secret: str) -> None:
    """Store `secret` sealed with the key bound to `db` (bound to the reviewer's uuid)."""
    reviewer.otp_secret_sealed = column_key_of(db).seal(secret, TOTP_SECRET, reviewer.uuid)


def provisioning_uri(db: Session, reviewer: Reviewer) -> str:
    """The otpauth:// URI an authenticator app enrols from (shown as a QR code)."""
    return pyotp.TOTP(totp_secret(db, reviewer)).provisioning_uri(
        name=reviewer.username, issuer_name=TOTP_ISSUER
    )


def normalize_username(raw: str) -> str:
    """Lower-cased, stripped username, or InvalidUsernameError."""
    username = raw.strip().lower()
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX or not USERNAME_PATTERN.match(username):
        raise InvalidUsernameError("invalid username")
    return username


def credential_stamp(reviewer: Reviewer) -> str:
    """Changes whenever the passphrase or the TOTP secret changes, and at each
    deactivation (the account's credential generation).

    Sessions and API tokens keep it and are refused when it no longer matches, so
    resetting someone's credentials, or deactivating the account, also logs out whoever
    might have been using the old ones, for good: reactivation does not bring it back.
    The TOTP part is the sealed secret (a new secret is sealed under a new nonce), so
    checking a session needs no key.
    """
    material = (
        f"{reviewer.passphrase_hash}\0{reviewer.otp_secret_sealed}\0"
        f"{reviewer.credential_generation}"
    ).encode()
    return hashlib.sha256(material).hexdigest()[:32]


# -- TOTP ----------------------------------------------------------------------------------


# -- login ---------------------------------------------------------------------------------


# -- roles ---------------------------------------------------------------------------------


def can_read_sources(reviewer: Reviewer) -> bool:
    """Analysts and admins see every source. Partners see only cases referred to them,
    and referral does not exist yet: for now they see none (least privilege)."""
    return reviewer.is_active and reviewer.role in (Role.ANALYST, Role.ADMIN)


def require_admin(actor: Reviewer | None) -> None:
    """`None` is the operator at the server's console (the CLI), who may do anything."""
    if actor is not None and not (actor.is_active and actor.role is Role.ADMIN):
        raise AccessDeniedError("admin only")


# -- account management --------------------------------------------------------------------


def list_reviewers(db: Session, actor: Reviewer | None) -> list[Reviewer]:
    require_admin(actor)
    audit.record(db, actor, "reviewers_listed")
    return list(db.scalars(select(Reviewer).order_by(Reviewer.username)))


def get_reviewer(db: Session, actor: Reviewer | None, reviewer_uuid: str) -> Reviewer:
    require_admin(actor)
    reviewer = db.scalar(select(Reviewer).where(Reviewer.uuid == reviewer_uuid))
    if reviewer is None:
        raise NotFoundError("no such reviewer")
    audit.record(db, actor, "reviewer_viewed", "reviewer", reviewer.uuid)
    return reviewer


def create_reviewer(
    db: Session,
    username: str,
    role: Role,
    *,
    actor: Reviewer | None = None,
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> tuple[Reviewer, str]:
    """A new reviewer with a generated passphrase and TOTP secret.

    Returns the reviewer and the passphrase, which is shown once and never stored; the
    TOTP secret is `totp_secret(db, reviewer)` (enrol with `provisioning_uri(db, reviewer)`),
    stored sealed only.
    `actor=None` is the server operator (`backupctl`, e.g. for the first admin).
    Raises InvalidUsernameError, UsernameTakenError, AccessDeniedError.
    """
    require_admin(actor)
    username = normalize_username(username)
    if db.scalar(select(Reviewer.id).where(Reviewer.username == username)) is not None:
        raise UsernameTakenError("username taken")
    passphrase = generate_passphrase()
    reviewer = Reviewer(
        uuid=str(uuidlib.uuid4()),  # the sealed TOTP secret is bound to it
        username=username,
        passphrase_hash=hasher.hash(passphrase),
        last_totp_step=0,
        role=role,
        is_active=True,
    )
    set_totp_secret(db, reviewer, generate_otp_secret())
    try:
        with savepoint(db):
            db.add(reviewer)
            db.flush()  # assigns the uuid the audit event refers to
    except IntegrityError as exc:  # a concurrent creation won the unique constraint
        raise UsernameTakenError("username taken") from exc
    unread.resync(db, reviewer)
    audit.record(db, actor, "reviewer_created", "reviewer", reviewer.uuid)
    return reviewer, passphrase


def reset_passphrase(
    db: Session,
    actor: Reviewer | None,
    reviewer: Reviewer,
    *,
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> str:
    """A new generated passphrase (returned once); the reviewer's sessions end."""
    require_admin(actor)
    passphrase = generate_passphrase()
    reviewer.passphrase_hash = hasher.hash(passphrase)
    audit.record(db, actor, "passphrase_reset", "reviewer", reviewer.uuid)
    return passphrase


def reset_totp(db: Session, actor: Reviewer | None, reviewer: Reviewer) -> str:
    """A new TOTP secret (returned for enrolment); the reviewer's sessions end."""
    require_admin(actor)
    secret = generate_otp_secret()
    set_totp_secret(db, reviewer, secret)
    # The new secret's codes must work at once, whatever steps the old one used.
    reviewer.last_totp_step = 0
    audit.record(db, actor, "totp_reset", "reviewer", reviewer.uuid)
    return secret


def _active_admins(db: Session) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Reviewer)
            .where(Reviewer.role == Role.ADMIN, Reviewer.is_active.is_(True))
        )
        or 0
    )


def set_active(db: Session, actor: Reviewer | None, reviewer: Reviewer, active: bool) -> None:
    """Deactivate or reactivate an account.

    Deactivation raises the account's credential generation: every session and API
    token issued until now is refused from its next use on, and stays refused after a
    reactivation (the person logs in again).
    """
    require_admin(actor)
    if reviewer.is_active == active:
        return
    if not active and reviewer.role is Role.ADMIN and _active_admins(db) <= 1:
        raise LastAdminError("last active admin")
    reviewer.is_active = active
    if not active:
        reviewer.credential_generation += 1
    unread.resync(db, reviewer)
    action = "reviewer_activated" if active else "reviewer_deactivated"
    audit.record(db, actor, action, "reviewer", reviewer.uuid)


def change_role(db: Session, actor: Reviewer | None, reviewer: Reviewer, role: Role) -> None:
    require_admin(actor)
    if reviewer.role is role:
        return
    if (
        reviewer.role is Role.ADMIN
        and reviewer.is_active
        and role is not Role.ADMIN
        and _active_admins(db) <= 1
    ):
        raise LastAdminError("last active admin")
    reviewer.role = role
    unread.resync(db, reviewer)
    audit.record(db, actor, "role_changed", "reviewer", reviewer.uuid)
