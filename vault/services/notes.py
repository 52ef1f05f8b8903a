"""Per-account keypairs and encrypted case notes.

At login the account's key is unlocked (created on first login, replaced after an admin
reset the passphrase, since the old key can no longer be opened). What the session
keeps is the *key passphrase*, HMAC-SHA256(salt, login passphrase): it opens this key
only, and does not reveal the login passphrase should the sealed session ever leak.

A note is sealed, at writing time, to every account then allowed to read case notes
(active analysts and admins holding a key) and to the submission key. An account created
later does not read older notes on the server (the workstation still reads them all);
see docs/cases.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from vault.errors import VaultError
from vault.models import AccountKey, CaseNote, Reviewer, Role
from vault.services import audit, cases

__all__ = [
    "MAX_NOTE_CHARS",
    "NoteText",
    "NotesLockedError",
    "add_note",
    "key_passphrase",
    "read_notes",
    "unlock_account_key",
]

MAX_NOTE_CHARS = 20_000
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
    recipients = sorted({*_reader_fingerprints(db), submission_fingerprint})
    ciphertext = keyring.seal_bytes(text.encode(), recipients)
    note = CaseNote(
        case_id=case.id, author_id=actor.id, ciphertext=ciphertext, size=len(ciphertext)
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
) -> list[NoteText]:
    """The case's notes, opened with the session's key; audited as one view."""
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
    audit.record(db, actor, "case_notes_viewed", "case", case.uuid)
    db.commit()
    return opened
