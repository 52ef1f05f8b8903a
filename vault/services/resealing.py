"""Re-sealing: an encrypted item sealed again to the readers the rules give it today.

Shared by case notes (vault.services.notes), referral messages
(vault.services.referral_messages), care requests (vault.services.care), the team copies of
replies (vault.services.team_replies) and legal guidance (vault.services.guidance). The server holds
no key passphrase outside a logged-in session, so only a session with an unlocked
account key re-seals, and only items sealed to that key: it decrypts them in memory
and seals them to the current recipients (the caller decides who they are, always
including the submission key). What is sealed to whom is recorded with each item
(`recipients`, migration 0005).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Row, Select, literal, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from vault.errors import DecryptionError, VaultError
from vault.models import (
    AccountKey,
    CareRequest,
    CaseMessage,
    CaseNote,
    GuidanceAnswer,
    GuidanceQuestion,
    ReferralMessage,
    ReplyCopy,
    Reviewer,
)
from vault.models.note import canonical_recipients
from vault.models.reply import MAX_REPLY_BYTES
from vault.ports import Keyring
from vault.services import audit
from vault.transaction import savepoint

__all__ = [
    "Batch",
    "Sealed",
    "account_fingerprint",
    "collect_batch",
    "is_reader",
    "may_open",
    "open_each",
    "pkesk_key_ids",
    "reseal",
    "reseal_opened",
    "reseal_quietly",
    "reseal_stale",
    "sealed_to",
]

Sealed = (
    CaseNote
    | CaseMessage
    | ReferralMessage
    | CareRequest
    | ReplyCopy
    | GuidanceQuestion
    | GuidanceAnswer
)
S = TypeVar(
    "S",
    CaseNote,
    CaseMessage,
    ReferralMessage,
    CareRequest,
    ReplyCopy,
    GuidanceQuestion,
    GuidanceAnswer,
)
# What to seal again: the item, its plaintext, the recipients it is sealed to now.
Batch = list[tuple[Sealed, bytes, Sequence[str]]]
# The most a note or referral message decrypts to: each is at most 20,000 characters
# (notes.MAX_NOTE_CHARS, referral_messages.MAX_MESSAGE_CHARS), up to 4 bytes each in UTF-8; a
# care request (an ASSIST document: choices and two short texts) is far smaller.
# Anything larger is not opened (OutputTooLargeError is a DecryptionError). A reply's
# team copy holds a reply, up to MAX_REPLY_BYTES.
MAX_SEALED_TEXT_BYTES = 4 * 20_000


# Each kind of sealed item: its audit object type and re-sealing action.
_AUDITED: dict[type[Any], tuple[str, str]] = {
    CaseNote: ("note", "case_note_resealed"),
    CaseMessage: ("case_message", "case_message_resealed"),
    ReferralMessage: ("referral_message", "referral_message_resealed"),
    CareRequest: ("care_request", "care_request_resealed"),
    # Named by the reply's uuid: the copy has no identity of its own.
    ReplyCopy: ("reply", "reply_copy_resealed"),
    GuidanceQuestion: ("guidance_question", "referral_guidance_resealed"),
    GuidanceAnswer: ("guidance_answer", "referral_guidance_resealed"),
}


def _max_text(item: Sealed) -> int:
    return MAX_REPLY_BYTES if isinstance(item, ReplyCopy) else MAX_SEALED_TEXT_BYTES


def is_reader(fingerprint: str, recipients: Iterable[str]) -> bool:
    return fingerprint.upper() in {fp.upper() for fp in recipients}


def account_fingerprint(db: Session, reviewer: Reviewer) -> str | None:
    return db.scalar(select(AccountKey.fingerprint).where(AccountKey.reviewer_id == reviewer.id))


def sealed_to(column: InstrumentedAttribute[str | None], fingerprint: str) -> ColumnElement[bool]:
    """SQL: the recorded recipients include `fingerprint` (exactly, not as a substring)."""
    wrapped = literal(",") + column + literal(",")
    return wrapped.like(f"%,{fingerprint.upper()},%")


def pkesk_key_ids(ciphertext: bytes) -> set[str]:
    """The key ids named by the public-key encrypted session key packets that open an
    OpenPGP message (RFC 4880 5.1), read from its first packets without any secret key.

    Only a filter for messages whose recipients were not recorded: a wrong answer costs
    one failed decryption, or leaves the message to another reader; never an access.
    """
    ids: set[str] = set()
    pos = 0
    try:
        while pos < len(ciphertext):
            header = ciphertext[pos]
            if not header & 0x80:
                break
            if header & 0x40:  # new packet format
                tag, first = header & 0x3F, ciphertext[pos + 1]
                if first < 192:
                    length, pos = first, pos + 2
                elif first < 224:
                    length, pos = ((first - 192) << 8) + ciphertext[pos + 2] + 192, pos + 3
                elif first == 255:
                    length, pos = int.from_bytes(ciphertext[pos + 2 : pos + 6], "big"), pos + 6
                else:
                    break  # partial body length: not a session key packet
            else:  # old packet format
                tag, kind = (header >> 2) & 0x0F, header & 0x03
                if kind == 3:
                    break
                size = (1, 2, 4)[kind]
                length = int.from_bytes(ciphertext[pos + 1 : pos + 1 + size], "big")
                pos += 1 + size
            if tag != 1:
                break
            body = ciphertext[pos : pos + length]
            if len(body) >= 10 and body[0] == 3:
                ids.add(body[1:9].hex().upper())
            pos += length
    except IndexError:
        pass
    return ids


def may_open(item: Sealed, fingerprint: str, key_ids: set[str]) -> bool:
    """Whether `item` is sealed to this account's key, as far as the server can tell."""
    if item.recipients is None:
        return bool(pkesk_key_ids(item.ciphertext) & key_ids)
    return fingerprint.upper() in item.recipients.split(",")


def reseal(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    items: Sequence[tuple[Sealed, bytes, Sequence[str]]],
) -> int:
    """Seal each item's plaintext again to its current recipients; the caller commits.

    Everything is encrypted before the first row changes, so a sealing failure changes
    nothing. A row is rewritten only if its recipients are still what was read (another
    session may have re-sealed it meanwhile). Each re-sealed item is audited by uuid.
    """
    sealed = [
        (item, keyring.seal_bytes(plaintext, recipients), canonical_recipients(recipients))
        for item, plaintext, recipients in items
    ]
    done = 0
    for item, ciphertext, recipients in sealed:
        model = type(item)
        result = db.execute(
            update(model)
            .where(model.id == item.id, model.recipients.is_not_distinct_from(item.recipients))
            .values(ciphertext=ciphertext, size=len(ciphertext), recipients=recipients)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            continue
        kind, action = _AUDITED[model]
        audit.record(db, actor, action, kind, item.uuid)
        db.expire(item)  # its loaded ciphertext and recipients are the old ones
        done += 1
    return done


def reseal_quietly(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    items: Sequence[tuple[Sealed, bytes, Sequence[str]]],
) -> None:
    """Re-seal on a read: a failure leaves the old ciphertexts and never costs the read."""
    if not items:
        return
    try:
        with savepoint(db):
            reseal(db, keyring, actor, items)
    except VaultError:
        pass  # nothing was written; the next reader or login tries again


def open_each(
    keyring: Keyring, items: Sequence[S], passphrase: str | None
) -> list[tuple[S, str | None]]:
    """Each item with its text, or None where this key does not open it (or no key)."""
    opened: list[tuple[S, str | None]] = []
    for item in items:
        text = None
        if passphrase:
            try:
                plaintext = keyring.open_bytes(
                    item.ciphertext, passphrase, max_output=_max_text(item)
                )
                text = plaintext.decode()
            except DecryptionError:
                text = None
        opened.append((item, text))
    return opened


def reseal_opened(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    opened: Sequence[tuple[Sealed, str | None]],
    current: Sequence[str],
) -> None:
    """On a read: the items just opened whose recipients are not `current` are sealed
    to it, if `actor` is one of those readers; a failure never costs the read."""
    mine = account_fingerprint(db, actor)
    if mine is None or not is_reader(mine, current):
        return
    stale: Batch = [
        (item, text.encode(), current)
        for item, text in opened
        if text is not None and item.recipients != canonical_recipients(current)
    ]
    reseal_quietly(db, keyring, actor, stale)


def collect_batch(
    keyring: Keyring,
    candidates: Iterable[tuple[Sealed, Sequence[str]]],
    fingerprint: str,
    passphrase: str,
    limit: int,
) -> Batch:
    """Up to `limit` decryptions, in order, of candidates (item, current recipients)
    sealed to this account's key: what a login re-seals. Items written before 0005
    have no recorded recipients and are filtered, without gpg, by the key ids their
    ciphertext names."""
    key_ids = keyring.key_ids(fingerprint)
    batch: Batch = []
    tried = 0
    for item, recipients in candidates:
        if tried >= limit:  # gpg runs, not only successes, bound the login's wait
            break
        if not may_open(item, fingerprint, key_ids):
            continue
        tried += 1
        try:
            plaintext = keyring.open_bytes(item.ciphertext, passphrase, max_output=_max_text(item))
        except DecryptionError:
            continue
        batch.append((item, plaintext, recipients))
    return batch


def reseal_stale(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    stale: Select[*tuple[Any, ...]],
    readers: Callable[[Row[*tuple[Any, ...]]], Sequence[str]],
    fingerprint: str,
    passphrase: str,
    limit: int,
) -> int:
    """What a login re-seals: the rows of `stale` (each an item first, then whatever
    `readers` needs to name the item's current recipients), oldest first as `stale`
    orders them, opened up to `limit` times with this account's key and sealed again;
    recorded with their audit events. Returns how many were re-sealed.

    The rows are streamed, and the stream is closed before any row is rewritten.
    """
    found = db.execute(stale.execution_options(yield_per=100))
    try:
        batch = collect_batch(
            keyring, ((row[0], readers(row)) for row in found), fingerprint, passphrase, limit
        )
    finally:
        found.close()
    done = reseal(db, keyring, actor, batch) if batch else 0
    return done
