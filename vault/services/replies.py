"""Replies as reviewers send and handle them: sent (stored sealed to the source's key and
the submission key, with its custody receipt, or not at all), listed, downloaded as
ciphertext, deleted. How the team reads them is vault.services.team_replies.

Two ways in. `send_reply`: the server seals text a reviewer (or a partner, over a
referral) wrote. `store_encrypted_reply`: the reviewer's client encrypted it itself
(SecureDrop's API: the server never sees its text); only an OpenPGP message to both the
source's key and the submission key is stored, as a reply the source could not read,
or that the workstation could not read, is refused.

The source's copy (a file in the store, with its custody receipt) is sealed to the
source's key and the submission key only, as it always was: what the source downloads
and reads is unchanged. The server also seals the same text, in memory, to the readers
of case notes (active analysts and admins holding an account key) and the submission
key: the team's copy (vault.models.ReplyCopy), kept in the database with its recorded
recipients, so a colleague who takes over can read what was promised while logged in,
and re-sealed to new readers as notes are (vault.services.team_replies). A reply the
client encrypted has no team copy.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Sequence
from pathlib import Path

from redis import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import EmptySubmissionError, NoReplyKeyError, NotFoundError, VaultError
from vault.models import Reply, ReplyCopy, ReplySealer, Reviewer, Source
from vault.models.note import canonical_recipients
from vault.models.reply import MAX_REPLY_BYTES, MAX_REPLY_CHARS
from vault.ports import Keyring
from vault.services import audit, custody, deletion, inbox, notes
from vault.store import SealedFile, Store

__all__ = [
    "ARMOR_HEADER",
    "MAX_ENCRYPTED_REPLY_BYTES",
    "MAX_REPLY_BYTES",
    "MAX_REPLY_CHARS",
    "NotEncryptedError",
    "ReplyTooLargeError",
    "ReplyUuidTakenError",
    "delete_reply",
    "download_reply",
    "get_reply",
    "list_replies",
    "reply_to_source",
    "send_reply",
    "store_encrypted_reply",
]
_log = logging.getLogger(__name__)
# The largest reply ciphertext accepted or opened: ASCII armour adds a third, the
# recipients' key packets and headers little; twice the plaintext limit leaves room.
# A ciphertext above it cannot hold a plaintext within MAX_REPLY_BYTES.
MAX_ENCRYPTED_REPLY_BYTES = 2 * MAX_REPLY_BYTES
ARMOR_HEADER = "-----BEGIN PGP MESSAGE-----"


class NotEncryptedError(VaultError):
    """A reply that is not an OpenPGP message to both the source and the submission key."""


class ReplyUuidTakenError(VaultError):
    """The client chose a reply uuid that is already in use."""


class ReplyTooLargeError(VaultError):
    """A reply ciphertext larger than any reply can be (`MAX_ENCRYPTED_REPLY_BYTES`).

    Only the size of the ciphertext can be checked here (the server cannot open it);
    what it expands to is bounded when the source reads it (`sources.read_reply`).
    """


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
    if not source.reply_key_fingerprint:
        raise NoReplyKeyError("this source has no reply key")
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
    _keep(db, store, reply, sealed, [source.reply_key_fingerprint, submission_fpr])
    return reply


def _check_recipients(keyring: Keyring, armored: str, required: Sequence[str]) -> None:
    """Refuse anything but an OpenPGP message to each required key: a reply the source
    could not read, or that the workstation could not audit, is never stored."""
    if not armored.lstrip().startswith(ARMOR_HEADER):
        raise NotEncryptedError("not an armored OpenPGP message")
    named = keyring.recipients_of(armored)
    for fingerprint in required:
        if not named & keyring.key_ids(fingerprint):
            raise NotEncryptedError("not encrypted to every required key")


def store_encrypted_reply(
    db: Session,
    store: Store,
    keyring: Keyring,
    reviewer: Reviewer,
    source: Source,
    armored: str,
    submission_fpr: str,
    reply_uuid: str | None = None,
) -> Reply:
    """Store a reply the client encrypted to the source's key and the submission key.

    `source`: as `inbox.get_source` gave it to `reviewer` (access checked). Raises
    NotEncryptedError, ReplyTooLargeError, ReplyUuidTakenError, ValueError (a malformed
    uuid). The audit event commits with the reply, or not at all.
    """
    if len(armored) > MAX_ENCRYPTED_REPLY_BYTES:  # armour is ASCII: characters are bytes
        raise ReplyTooLargeError("reply ciphertext over the limit")
    if reply_uuid is not None:
        reply_uuid = str(uuidlib.UUID(reply_uuid))
        if db.scalar(select(Reply.id).where(Reply.uuid == reply_uuid)) is not None:
            raise ReplyUuidTakenError("reply uuid in use")
    _check_recipients(keyring, armored, [source.reply_key_fingerprint, submission_fpr])
    number = source.next_interaction()
    sealed = store.put_sealed(
        source.uuid, f"{number}-{source.slug}-reply.gpg", armored.encode("utf-8")
    )
    reply = Reply(
        source=source,
        reviewer=reviewer,
        filename=sealed.path.name,
        size=sealed.size,
        sha256=sealed.sha256,
        # No team copy: the server never saw the text (it is read on the workstation).
        sealed_by=ReplySealer.CLIENT,
    )
    if reply_uuid is not None:
        reply.uuid = reply_uuid
    sealed_to = [source.reply_key_fingerprint, submission_fpr]
    try:
        _keep(db, store, reply, sealed, sealed_to, audited_as=reviewer)
    except IntegrityError as exc:  # a concurrent request took the uuid
        raise ReplyUuidTakenError("reply uuid in use") from exc
    return reply


def _keep(
    db: Session,
    store: Store,
    reply: Reply,
    sealed: SealedFile,
    sealed_to: Sequence[str],
    *,
    audited_as: Reviewer | None = None,
) -> None:
    """Add `reply` (its file already in the store) with its custody receipt (and, with
    `audited_as`, its `reply_sent` event); on any error here roll back. The file is
    shredded unless the transaction commits, so nothing refers to a missing file and no
    file outlives a reply that was not stored."""
    reply.source.last_updated = utcnow()
    db.add(reply)
    try:
        store.keep(db, sealed)  # shredded on rollback; copied in it when shared
        db.flush()  # gives the reply its uuid, which the receipt names
        custody.append_reply(db, reply, sealed_to)
        if audited_as is not None:
            audit.record(db, audited_as, "reply_sent", "reply", reply.uuid)
    except BaseException:
        db.rollback()  # shreds the file (on_rollback)
        raise


def reply_to_source(
    db: Session,
    store: Store,
    keyring: Keyring,
    reviewer: Reviewer,
    source_uuid: str,
    text: str,
    submission_fpr: str,
) -> Reply:
    """Seal a reply to the source's key and the submission key (EmptySubmissionError if
    empty or too long). The audit event commits with the reply, or not at all."""
    source = inbox.get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "reply_sent", "source", source.uuid)
    try:
        return send_reply(db, store, keyring, source, reviewer, text, submission_fpr)
    except BaseException:
        db.rollback()  # send_reply refuses before touching the session: drop the event
        raise


def list_replies(db: Session, reviewer: Reviewer, source_uuid: str | None = None) -> list[Reply]:
    """The live replies of one source, or of every visible source; audited."""
    query = (
        select(Reply)
        .join(Source, Source.id == Reply.source_id)
        .where(Reply.deleted_at.is_(None), Source.deleted_at.is_(None), Source.pending.is_(False))
        .order_by(Reply.id)
    )
    if source_uuid is not None:
        source = inbox.get_source(db, reviewer, source_uuid)
        query = query.where(Reply.source_id == source.id)
        audit.record(db, reviewer, "replies_listed", "source", source.uuid)
    else:
        inbox.require_reader(reviewer)
        audit.record(db, reviewer, "replies_listed")
    return list(db.scalars(query))


def get_reply(db: Session, reviewer: Reviewer, source_uuid: str, reply_uuid: str) -> Reply:
    source = inbox.get_source(db, reviewer, source_uuid)
    reply = db.scalar(
        select(Reply).where(
            Reply.uuid == reply_uuid, Reply.source_id == source.id, Reply.deleted_at.is_(None)
        )
    )
    if reply is None:
        raise NotFoundError("no such reply")
    return reply


def download_reply(
    db: Session, store: Store, reviewer: Reviewer, source_uuid: str, reply_uuid: str
) -> tuple[Reply, Path]:
    """The stored ciphertext of the source's copy (what the workstation opens with the
    submission key); audited as `reply_downloaded`."""
    reply = get_reply(db, reviewer, source_uuid, reply_uuid)
    path = store.path_of(reply.source.uuid, reply.filename)
    if not path.is_file():
        raise NotFoundError("stored file missing")
    audit.record(
        db, reviewer, "reply_downloaded", "reply", reply.uuid, detail={"source": reply.source.uuid}
    )
    return reply, path


def delete_reply(
    db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str, reply_uuid: str
) -> None:
    """Hide the reply at once; a background job shreds the file and the row."""
    reply = get_reply(db, reviewer, source_uuid, reply_uuid)
    audit.record(db, reviewer, "reply_deletion_requested", "reply", reply.uuid)
    deletion.request_reply_deletion(db, redis, reply)
