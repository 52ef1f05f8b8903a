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

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from keys.gpg import GpgKeyring
from vault.errors import VaultError
from vault.models import AccountKey, CaseNote, Reviewer, Role
from vault.models.note import canonical_recipients
from vault.services import audit, cases
from vault.services.resealing import (
    account_fingerprint,
    collect_batch,
    is_reader,
    open_each,
    reseal,
    reseal_opened,
    sealed_to,
)

__all__ = [
    "MAX_NOTE_CHARS",
    "RESEAL_BATCH",
    "NoteText",
    "NotesLockedError",
    "add_note",
    "key_passphrase",
    "read_notes",
    "reseal_pending_notes",
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
    opened = open_each(keyring, notes, session_key_passphrase)
    if submission_fingerprint is not None:
        current = _note_recipients(db, submission_fingerprint)
        reseal_opened(db, keyring, actor, opened, current)
    audit.record(db, actor, "case_notes_viewed", "case", case.uuid)
    db.commit()
    return opened


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
    if limit <= 0 or mine is None or not is_reader(mine, current):
        return 0
    stale = select(CaseNote).where(
        or_(
            CaseNote.recipients.is_(None),
            and_(
                CaseNote.recipients != canonical_recipients(current),
                sealed_to(CaseNote.recipients, mine),
            ),
        )
    )
    # Streamed, and closed before the rows are rewritten.
    found = db.scalars(stale.order_by(CaseNote.id).execution_options(yield_per=100))
    batch = collect_batch(
        keyring, ((note, current) for note in found), mine, session_key_passphrase, limit
    )
    found.close()
    done = reseal(db, keyring, actor, batch) if batch else 0
    db.commit()
    return done
