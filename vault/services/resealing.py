"""Re-sealing: an encrypted item sealed again to the readers the rules give it today.

Shared by case notes (vault.services.notes) and referral messages
(vault.services.referrals). The server holds no key passphrase outside a logged-in
session, so only a session with an unlocked account key re-seals, and only items sealed
to that key: it decrypts them in memory and seals them to the current recipients (the
caller decides who they are, always including the submission key). What is sealed to
whom is recorded with each item (`recipients`, migration 0005).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, literal, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from keys.gpg import GpgKeyring
from vault.errors import VaultError
from vault.models import AccountKey, CaseNote, ReferralMessage, Reviewer
from vault.models.note import canonical_recipients
from vault.services import audit

__all__ = [
    "Sealed",
    "account_fingerprint",
    "may_open",
    "reseal",
    "reseal_quietly",
    "sealed_to",
]

Sealed = CaseNote | ReferralMessage


def account_fingerprint(db: Session, reviewer: Reviewer) -> str | None:
    return db.scalar(select(AccountKey.fingerprint).where(AccountKey.reviewer_id == reviewer.id))


def sealed_to(column: InstrumentedAttribute[str | None], fingerprint: str) -> ColumnElement[bool]:
    """SQL: the recorded recipients include `fingerprint` (exactly, not as a substring)."""
    wrapped = literal(",") + column + literal(",")
    return wrapped.like(f"%,{fingerprint.upper()},%")


def _pkesk_key_ids(ciphertext: bytes) -> set[str]:
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
        return bool(_pkesk_key_ids(item.ciphertext) & key_ids)
    return fingerprint.upper() in item.recipients.split(",")


def reseal(
    db: Session,
    keyring: GpgKeyring,
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
        kind = "note" if isinstance(item, CaseNote) else "referral_message"
        action = "case_note_resealed" if kind == "note" else "referral_message_resealed"
        audit.record(db, actor, action, kind, item.uuid)
        db.expire(item)  # its loaded ciphertext and recipients are the old ones
        done += 1
    return done


def reseal_quietly(
    db: Session,
    keyring: GpgKeyring,
    actor: Reviewer,
    items: Sequence[tuple[Sealed, bytes, Sequence[str]]],
) -> None:
    """Re-seal on a read: a failure leaves the old ciphertexts and never costs the read."""
    if not items:
        return
    try:
        with db.begin_nested():
            reseal(db, keyring, actor, items)
    except VaultError:
        pass  # nothing was written; the next reader or login tries again
