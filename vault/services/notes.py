"""Per-account keypairs, encrypted case notes, and re-sealing.

At login the account's key is unlocked (created on first login, replaced after an admin
reset the passphrase, since the old key can no longer be opened). What the session
keeps is the *key passphrase*, HMAC-SHA256(salt, login passphrase): it opens this key
only, and does not reveal the login passphrase should the sealed session ever leak.

A note is sealed, at writing time, to every account then allowed to read case notes
(active analysts and admins holding a key) and to the submission key; the fingerprints
it is sealed to are recorded with it (`recipients`, NULL for notes written before
migration 0005).

Re-sealing. The readers change: an account is created (its key is made at its first
login), deactivated, or gets a new key after a passphrase reset. The server cannot
re-encrypt on its own, since it holds no key passphrase outside a logged-in session. So
whenever a session holds an unlocked key, notes whose recipients differ from the
current readers and that *this* account can open are decrypted in memory and sealed
again to the current readers (always including the submission key), ciphertext, size
and recipients changing in one transaction, audited by note uuid only. This happens for
a bounded batch, oldest first, right after login (`reseal_pending_notes`), and for a
case's notes whenever they are read (`read_notes`). Notes this account cannot open are
left for another reader. An account only ever re-seals to the readers the rules allow
now and only what it may read now: nobody gains access that `add_note` would not give.
Until a reader logs in, a new account sees "not encrypted to your key"; the workstation
reads every note with the submission key at all times. See docs/cases.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, literal, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from vault.errors import VaultError
from vault.models import AccountKey, CaseNote, ReferralMessage, Reviewer, Role
from vault.models.note import canonical_recipients
from vault.services import audit, cases

__all__ = [
    "MAX_NOTE_CHARS",
    "RESEAL_BATCH",
    "NoteText",
    "NotesLockedError",
    "Sealed",
    "account_fingerprint",
    "add_note",
    "encryption_key_ids",
    "key_passphrase",
    "may_open",
    "read_notes",
    "reseal",
    "reseal_pending_notes",
    "reseal_quietly",
    "sealed_to",
    "unlock_account_key",
]

MAX_NOTE_CHARS = 20_000
# Items re-sealed at one login (notes and referral messages together): each costs two
# gpg runs, and the login waits for them. The rest is done at the next logins or reads.
RESEAL_BATCH = 100
_PROBE = b"backup account key probe"


class NotesLockedError(VaultError):
    """The session holds no unlocked account key (log in again)."""


NoteText = tuple[CaseNote, str | None]  # None: not sealed to this account
Sealed = CaseNote | ReferralMessage


def key_passphrase(salt: str, login_passphrase: str) -> str:
    return hmac.new(bytes.fromhex(salt), login_passphrase.encode(), hashlib.sha256).hexdigest()


def _opens(keyring: GpgKeyring, fingerprint: str, passphrase: str) -> bool:
    try:
        probe = keyring.seal_bytes(_PROBE, [fingerprint])
        return keyring.open_bytes(probe, passphrase) == _PROBE
    except VaultError:
        return False


def unlock_account_key(
    db: Session, keyring: GpgKeyring, reviewer: Reviewer, login_passphrase: str
) -> str:
    """The key passphrase for the session, creating or replacing the account's key.

    Call only after the login passphrase was verified.
    """
    key = db.get(AccountKey, reviewer.id)
    if key is not None:
        derived = key_passphrase(key.salt, login_passphrase)
        if keyring.has_secret_key(key.fingerprint) and _opens(keyring, key.fingerprint, derived):
            return derived
        # The passphrase was reset: the old key is unusable; its notes stay readable by
        # the others they were sealed to and by the workstation.
        keyring.delete_key(key.fingerprint)
        db.delete(key)
        db.flush()
    salt = secrets.token_hex(32)
    derived = key_passphrase(salt, login_passphrase)
    # The key's user id names the account by uuid only, never by username.
    fingerprint = keyring.generate_reply_key(f"BackUp account {reviewer.uuid}", derived)
    db.add(AccountKey(reviewer_id=reviewer.id, fingerprint=fingerprint, salt=salt))
    audit.record(db, reviewer, "account_key_created", "reviewer", reviewer.uuid)
    db.commit()
    return derived


def _reader_fingerprints(db: Session) -> list[str]:
    return list(
        db.scalars(
            select(AccountKey.fingerprint)
            .join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
            .where(Reviewer.is_active.is_(True), Reviewer.role.in_([Role.ANALYST, Role.ADMIN]))
            .order_by(AccountKey.fingerprint)
        )
    )


def _note_recipients(db: Session, submission_fingerprint: str) -> list[str]:
    """Whom a note is sealed to now: the readers and, always, the submission key."""
    return sorted({*_reader_fingerprints(db), submission_fingerprint})


def add_note(
    db: Session,
    keyring: GpgKeyring,
    actor: Reviewer,
    case_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> CaseNote:
    """Seal `text` to the case's readers and the submission key; audited, no content."""
    case = cases.get_case(db, actor, case_uuid)
    text = text.strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        raise cases.InvalidCaseInputError("empty or too long")
    recipients = _note_recipients(db, submission_fingerprint)
    ciphertext = keyring.seal_bytes(text.encode(), recipients)
    note = CaseNote(
        case_id=case.id,
        author_id=actor.id,
        ciphertext=ciphertext,
        size=len(ciphertext),
        recipients=canonical_recipients(recipients),
    )
    db.add(note)
    db.flush()
    audit.record(db, actor, "case_note_added", "note", note.uuid)
    db.commit()
    return note


def read_notes(
    db: Session,
    keyring: GpgKeyring,
    actor: Reviewer,
    case_uuid: str,
    session_key_passphrase: str | None,
    *,
    submission_fingerprint: str | None = None,
) -> list[NoteText]:
    """The case's notes, opened with the session's key; audited as one view.

    With `submission_fingerprint`, the notes opened whose recipients are not the current
    readers are re-sealed to them in the same transaction (see the module docstring).
    """
    case = cases.get_case(db, actor, case_uuid)
    if not session_key_passphrase:
        raise NotesLockedError("no unlocked key in this session")
    notes = list(
        db.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))
    )
    opened: list[NoteText] = []
    for note in notes:
        try:
            opened.append(
                (note, keyring.open_bytes(note.ciphertext, session_key_passphrase).decode())
            )
        except DecryptionError:
            opened.append((note, None))
    if submission_fingerprint is not None:
        current = _note_recipients(db, submission_fingerprint)
        mine = account_fingerprint(db, actor)
        if mine is not None and mine.upper() in {fp.upper() for fp in current}:
            stale = [
                (note, text.encode(), current)
                for note, text in opened
                if text is not None and note.recipients != canonical_recipients(current)
            ]
            reseal_quietly(db, keyring, actor, stale)
    audit.record(db, actor, "case_notes_viewed", "case", case.uuid)
    db.commit()
    return opened


# -- re-sealing --------------------------------------------------------------------------


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


def encryption_key_ids(keyring: GpgKeyring, fingerprint: str) -> set[str]:
    """The long key ids of a key and its subkeys (a message names the encryption subkey)."""
    ids: set[str] = set()
    for key in keyring.gpg.list_keys(keys=[fingerprint]):
        ids.add(str(key["keyid"]).upper())
        for sub in key.get("subkeys", []):
            ids.add(str(sub[0]).upper())
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


def reseal_pending_notes(
    db: Session,
    keyring: GpgKeyring,
    actor: Reviewer,
    session_key_passphrase: str,
    submission_fingerprint: str,
    *,
    limit: int = RESEAL_BATCH,
) -> int:
    """Re-seal up to `limit` notes (oldest first; at most `limit` decryptions) that `actor`
    can open and whose recipients are not the current readers; committed with their
    audit events.

    Only a current reader of notes re-seals them. Returns how many were re-sealed.
    """
    mine = account_fingerprint(db, actor)
    current = _note_recipients(db, submission_fingerprint)
    if limit <= 0 or mine is None or mine.upper() not in {fp.upper() for fp in current}:
        return 0
    key_ids = encryption_key_ids(keyring, mine)
    stale = select(CaseNote).where(
        or_(
            CaseNote.recipients.is_(None),
            and_(
                CaseNote.recipients != canonical_recipients(current),
                sealed_to(CaseNote.recipients, mine),
            ),
        )
    )
    batch: list[tuple[Sealed, bytes, Sequence[str]]] = []
    tried = 0
    # Streamed: notes written before 0005 have no recorded recipients and are filtered
    # here, without gpg, by the key ids their ciphertext names.
    found = db.scalars(stale.order_by(CaseNote.id).execution_options(yield_per=100))
    for note in found:
        if tried >= limit:  # gpg runs, not only successes, bound the login's wait
            break
        if not may_open(note, mine, key_ids):
            continue
        tried += 1
        try:
            plaintext = keyring.open_bytes(note.ciphertext, session_key_passphrase)
        except DecryptionError:
            continue
        batch.append((note, plaintext, current))
    found.close()
    done = reseal(db, keyring, actor, batch) if batch else 0
    db.commit()
    return done
