"""Replies written by reviewers, sealed to the source's key and the submission key.

The source's copy (a file in the store, with its custody receipt) is sealed to the
source's key and the submission key only, as it always was: what the source downloads
and reads is unchanged. The server also seals the same text, in memory, to the readers
of case notes (active analysts and admins holding an account key) and the submission
key: the team's copy (vault.models.ReplyCopy), kept in the database with its recorded
recipients, so a colleague who takes over can read what was promised while logged in,
and re-sealed to new readers as notes are (vault.services.team_replies).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import EmptySubmissionError, VaultError
from vault.models import Reply, ReplyCopy, ReplySealer, Reviewer, Source
from vault.models.note import canonical_recipients
from vault.models.reply import MAX_REPLY_BYTES, MAX_REPLY_CHARS
from vault.ports import Keyring
from vault.services import custody, notes
from vault.store import Store

__all__ = [
    "MAX_ENCRYPTED_REPLY_BYTES",
    "MAX_REPLY_BYTES",
    "MAX_REPLY_CHARS",
    "send_reply",
]
_log = logging.getLogger(__name__)
# The largest reply ciphertext accepted or opened: ASCII armour adds a third, the
# recipients' key packets and headers little; twice the plaintext limit leaves room.
# A ciphertext above it cannot hold a plaintext within MAX_REPLY_BYTES.
MAX_ENCRYPTED_REPLY_BYTES = 2 * MAX_REPLY_BYTES


def _team_copy(
    db: Session, keyring: Keyring, plaintext: bytes, submission_fpr: str
) -> ReplyCopy | None:
    """The team's copy, or None when no reader holds a key or it cannot be sealed: the
    source's reply never waits on it (the workstation reads every reply)."""
    team = notes.reader_recipients(db, submission_fpr)
    if len(team) < 2:  # nobody but the submission key: nobody could read it on the server
        return None
    try:
        ciphertext = keyring.seal_bytes(plaintext, team)
    except VaultError as exc:  # a reader's public key missing from the keyring, say
        _log.error("reply team copy not sealed: %s", type(exc).__name__)
        return None
    return ReplyCopy(
        ciphertext=ciphertext, size=len(ciphertext), recipients=canonical_recipients(team)
    )


def send_reply(
    db: Session,
    store: Store,
    keyring: Keyring,
    source: Source,
    reviewer: Reviewer | None,
    text: str,
    submission_fpr: str,
    *,
    referral_id: int | None = None,
) -> Reply:
    """Seal `text` to the source's key and the submission key; store it with its receipt.
    Seal it also to the team (the team copy; see `_team_copy`).

    `referral_id`: a partner's reply over that referral (vault.services.referrals)."""
    text = text.strip()
    if not text:
        raise EmptySubmissionError("empty reply")
    if len(text) > MAX_REPLY_CHARS:
        raise EmptySubmissionError("reply too long")
    plaintext = text.encode("utf-8")
    copy = _team_copy(db, keyring, plaintext, submission_fpr)
    number = source.next_interaction()
    sealed = store.seal_bytes_to(
        source.uuid,
        f"{number}-{source.slug}-reply.gpg",
        plaintext,
        [source.reply_key_fingerprint, submission_fpr],
    )
    reply = Reply(
        source=source,
        reviewer=reviewer,
        referral_id=referral_id,
        filename=sealed.path.name,
        size=sealed.size,
        sha256=sealed.sha256,
        sealed_by=ReplySealer.SERVER,
        team_copy=copy,
    )
    source.last_updated = utcnow()
    db.add(reply)
    try:
        db.flush()  # gives the reply its uuid, which the receipt names
        custody.append_reply(db, reply, [source.reply_key_fingerprint, submission_fpr])
        db.commit()
    except BaseException:
        db.rollback()
        store.shred(sealed.path)
        raise
    return reply
