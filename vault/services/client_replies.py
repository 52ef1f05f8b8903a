"""Replies the reviewer's client encrypted itself (SecureDrop's API: the server never
sees their text). Only an OpenPGP message to both the source's key and the instance
submission key is stored: a reply the source could not read, or that the workstation
could not read, is refused.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid as uuidlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import StoreError, VaultError
from vault.models import Reply, ReplySealer, Reviewer
from vault.ports import Keyring
from vault.services import audit, custody, inbox
from vault.services.replies import MAX_ENCRYPTED_REPLY_BYTES
from vault.store import PARTIAL_PREFIX, SealedFile, Store

__all__ = [
    "ARMOR_HEADER",
    "NotEncryptedError",
    "ReplyTooLargeError",
    "ReplyUuidTakenError",
    "store_encrypted_reply",
]

ARMOR_HEADER = "-----BEGIN PGP MESSAGE-----"


class NotEncryptedError(VaultError):
    """A reply that is not an OpenPGP message to both the source and the submission key."""


class ReplyUuidTakenError(VaultError):
    """The client chose a reply uuid that is already in use."""


class ReplyTooLargeError(VaultError):
    """A reply ciphertext larger than any reply can be (`replies.MAX_ENCRYPTED_REPLY_BYTES`).

    Only the size of the ciphertext can be checked here (the server cannot open it);
    what it expands to is bounded when the source reads it (`sources.read_reply`).
    """


def _check_recipients(keyring: Keyring, armored: str, required: Sequence[str]) -> None:
    """Refuse anything but an OpenPGP message to each required key: a reply the source
    could not read, or that the workstation could not audit, is never stored."""
    if not armored.lstrip().startswith(ARMOR_HEADER):
        raise NotEncryptedError("not an armored OpenPGP message")
    named = keyring.recipients_of(armored)
    for fingerprint in required:
        if not named & keyring.key_ids(fingerprint):
            raise NotEncryptedError("not encrypted to every required key")


def _write_ciphertext(store: Store, source_uuid: str, final_name: str, data: bytes) -> SealedFile:
    """Put client-encrypted bytes in the store, as durably as the store's own writes:
    a partial file (swept if we crash), fsync, then rename to the final name."""
    final = store.path_of(source_uuid, final_name)  # validates the name and containment
    store.ensure_room(len(data))  # StorageFullError above the disk reserve
    directory = store.source_dir(source_uuid, create=True)
    partial = directory / f"{PARTIAL_PREFIX}{secrets.token_hex(16)}"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():
            raise StoreError("stored file name already in use")
        os.rename(partial, final)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        partial.unlink(missing_ok=True)
    return SealedFile(final, len(data), hashlib.sha256(data).hexdigest())


def store_encrypted_reply(
    db: Session,
    store: Store,
    keyring: Keyring,
    reviewer: Reviewer,
    source_uuid: str,
    armored: str,
    submission_fpr: str,
    reply_uuid: str | None = None,
) -> Reply:
    """Store a reply the client encrypted to the source's key and the submission key.

    Raises NotEncryptedError, ReplyTooLargeError, ReplyUuidTakenError, ValueError (a
    malformed uuid). The audit event commits with the reply, or not at all.
    """
    source = inbox.get_source(db, reviewer, source_uuid)
    if len(armored) > MAX_ENCRYPTED_REPLY_BYTES:  # armour is ASCII: characters are bytes
        raise ReplyTooLargeError("reply ciphertext over the limit")
    if reply_uuid is not None:
        reply_uuid = str(uuidlib.UUID(reply_uuid))
        if db.scalar(select(Reply.id).where(Reply.uuid == reply_uuid)) is not None:
            raise ReplyUuidTakenError("reply uuid in use")
    _check_recipients(keyring, armored, [source.reply_key_fingerprint, submission_fpr])
    number = source.next_interaction()
    sealed = _write_ciphertext(
        store, source.uuid, f"{number}-{source.slug}-reply.gpg", armored.encode("utf-8")
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
    source.last_updated = utcnow()
    db.add(reply)
    try:
        db.flush()  # gives the reply its uuid, which the receipt names
        custody.append_reply(db, reply, [source.reply_key_fingerprint, submission_fpr])
        audit.record(db, reviewer, "reply_sent", "reply", reply.uuid)
        db.commit()
    except IntegrityError as exc:  # a concurrent request took the uuid
        db.rollback()
        store.shred(sealed.path)
        raise ReplyUuidTakenError("reply uuid in use") from exc
    except BaseException:
        db.rollback()
        store.shred(sealed.path)
        raise
    return reply
