"""Sources: creation from a codename, login, submissions, and the replies they read."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keys.errors import OutputTooLargeError
from keys.gpg import GpgKeyring
from vault import codenames
from vault.config import Config
from vault.db import utcnow
from vault.errors import (
    AuthenticationError,
    EmptySubmissionError,
    NotFoundError,
    VaultError,
)
from vault.models import Reply, Source, Submission, SubmissionKind
from vault.services import custody, quota
from vault.services.replies import MAX_ENCRYPTED_REPLY_BYTES, MAX_REPLY_BYTES
from vault.store import DocumentSink, SealedFile, Store
from vault.throttle import LoginThrottle

REPLY_KEY_NAME = "BackUp source reply key"  # reveals nothing about the source
MAX_MESSAGE_CHARS = 100_000
_DESIGNATION_TRIES = 20


class CodenameCollisionError(VaultError):
    """The new codename's derivation is already taken (astronomically unlikely)."""


@dataclass(frozen=True)
class SourceCredentials:
    """What a logged-in source's session holds: never the codename itself."""

    source_uuid: str
    reply_passphrase: str


def _derivations(config: Config, codename: str) -> tuple[str, str]:
    params = config.scrypt
    lookup = codenames.lookup_id(codename, config.secrets.lookup_pepper, params)
    passphrase = codenames.reply_key_passphrase(codename, config.secrets.reply_key_pepper, params)
    return lookup, passphrase


def create_source(
    db: Session, keyring: GpgKeyring, config: Config, codename: str
) -> tuple[Source, SourceCredentials]:
    """Record a new source for a freshly generated codename, with its reply key."""
    codename = codenames.normalize_codename(codename)
    lookup, passphrase = _derivations(config, codename)
    if db.scalar(select(Source.id).where(Source.lookup_id == lookup)) is not None:
        raise CodenameCollisionError("codename already in use")
    designation = _free_designation(db)
    fingerprint = keyring.generate_reply_key(REPLY_KEY_NAME, passphrase)
    source = Source(lookup_id=lookup, designation=designation, reply_key_fingerprint=fingerprint)
    db.add(source)
    try:
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        keyring.delete_key(fingerprint)
        raise CodenameCollisionError("codename or designation already in use") from exc
    except BaseException:
        db.rollback()
        keyring.delete_key(fingerprint)
        raise
    return source, SourceCredentials(source.uuid, passphrase)


def _free_designation(db: Session) -> str:
    for _ in range(_DESIGNATION_TRIES):
        candidate = codenames.generate_designation()
        if db.scalar(select(Source.id).where(Source.designation == candidate)) is None:
            return candidate
    raise VaultError("no free designation found")


def authenticate_source(
    db: Session, throttle: LoginThrottle, config: Config, codename: str
) -> tuple[Source, SourceCredentials]:
    """Log a source in. Same work, same error, whether or not the codename exists.

    Raises InvalidCodenameError (malformed, before any derivation), LoginThrottledError,
    or AuthenticationError.
    """
    codename = codenames.normalize_codename(codename)
    lookup, passphrase = _derivations(config, codename)
    throttle.hit(lookup)
    candidates = db.scalars(
        select(Source).where(Source.lookup_id == lookup, Source.deleted_at.is_(None))
    ).all()
    found = None
    for source in candidates:  # constant-time comparison of what was found
        if hmac.compare_digest(source.lookup_id, lookup):
            found = source
    if found is None:
        raise AuthenticationError("unknown codename")
    throttle.reset(lookup)
    return found, SourceCredentials(found.uuid, passphrase)


def get_active_source(db: Session, source_uuid: str) -> Source:
    source = db.scalar(
        select(Source).where(Source.uuid == source_uuid, Source.deleted_at.is_(None))
    )
    if source is None:
        raise NotFoundError("no such source")
    return source


def submit(
    db: Session,
    store: Store,
    source: Source,
    submission_fpr: str,
    message: str | None,
    documents: Sequence[DocumentSink],
    *,
    quota_bytes: int | None = None,
) -> list[Submission]:
    """Seal a message and/or documents for a source, durably, then record them.

    Returns only once ciphertext is fsynced and the rows committed. On any failure
    (StorageFullError, QuotaExceededError past `quota_bytes` included), every file
    written here is shredded and nothing is recorded.
    """
    message = (message or "").strip() or None
    if message is None and not documents:
        raise EmptySubmissionError("nothing to submit")
    if message is not None and len(message) > MAX_MESSAGE_CHARS:
        raise EmptySubmissionError("message too long")
    written: list[SealedFile] = []
    created: list[Submission] = []
    manifests: list[custody.Manifest] = []
    try:
        if message is not None:
            number = source.next_interaction()
            encoded = message.encode("utf-8")
            sealed = store.seal_bytes_to(
                source.uuid, f"{number}-{source.slug}-msg.gpg", encoded, [submission_fpr]
            )
            written.append(sealed)
            created.append(_record(source, SubmissionKind.MESSAGE, sealed))
            manifests.append(custody.Manifest.for_bytes(encoded, "text/plain; charset=utf-8"))
        for document in documents:
            document.finish()
            number = source.next_interaction()
            sealed = store.adopt(
                document.pending, source.uuid, f"{number}-{source.slug}-doc.gz.gpg"
            )
            written.append(sealed)
            created.append(_record(source, SubmissionKind.FILE, sealed))
            manifests.append(
                custody.Manifest(
                    document.filename,
                    document.media_type,
                    document.plaintext_size,
                    document.plaintext_sha256,
                )
            )
        if quota_bytes is not None:
            quota.check(db, source, quota_bytes, sum(sealed.size for sealed in written))
        source.pending = False
        source.last_updated = utcnow()
        db.add_all(created)
        db.flush()  # gives the rows their uuids, which the receipts name
        for submission, manifest in zip(created, manifests, strict=True):
            custody.append(
                db,
                kind=submission.kind.value,
                object_uuid=submission.uuid,
                filename=submission.filename,
                size=submission.size,
                sha256=submission.sha256,
                sealed_to=[submission_fpr],
                sealed_manifest=store.sealer.seal_bytes(manifest.to_bytes(), [submission_fpr]),
            )
        db.commit()
    except BaseException:
        db.rollback()
        for sealed in written:
            store.shred(sealed.path)
        for document in documents:
            document.abort()
        raise
    return created


def _record(source: Source, kind: SubmissionKind, sealed: SealedFile) -> Submission:
    return Submission(
        source=source,
        kind=kind,
        filename=sealed.path.name,
        size=sealed.size,
        sha256=sealed.sha256,
    )


def replies_for_source(db: Session, source: Source) -> list[Reply]:
    return list(
        db.scalars(
            select(Reply)
            .where(
                Reply.source_id == source.id,
                Reply.deleted_by_source.is_(False),
                Reply.deleted_at.is_(None),
            )
            .order_by(Reply.id)
        )
    )


def read_reply(
    store: Store, keyring: GpgKeyring, source: Source, reply: Reply, passphrase: str
) -> str:
    """Decrypt a reply in memory for the source who owns it.

    Raises OutputTooLargeError for a reply whose ciphertext or plaintext is over the
    limits (`vault.services.replies`): a client-encrypted reply may be a compression
    bomb, and the source's page must stay small.
    """
    if reply.source_id != source.id:
        raise NotFoundError("no such reply")
    path = store.path_of(source.uuid, reply.filename)
    if path.stat().st_size > MAX_ENCRYPTED_REPLY_BYTES:
        raise OutputTooLargeError("reply ciphertext over the limit")
    plaintext = keyring.open_bytes(path.read_bytes(), passphrase, max_output=MAX_REPLY_BYTES)
    return plaintext.decode("utf-8", "replace")


def hide_reply_for_source(db: Session, source: Source, reply_uuid: str) -> None:
    """A source deletes a reply from their view; reviewers keep their copy."""
    reply = db.scalar(select(Reply).where(Reply.uuid == reply_uuid, Reply.source_id == source.id))
    if reply is None:
        raise NotFoundError("no such reply")
    reply.deleted_by_source = True
    db.commit()
