"""Sources: creation from a codename, login, submissions, and the replies they read."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault import codenames
from vault.config import Config
from vault.db import utcnow
from vault.errors import (
    AuthenticationError,
    EmptySubmissionError,
    NotFoundError,
    OutputTooLargeError,
    VaultError,
)
from vault.models import Reply, Source, Submission, SubmissionKind
from vault.ports import Keyring, Opener
from vault.services import custody, quota, reply_keys, source_consent, unread
from vault.services.replies import MAX_ENCRYPTED_REPLY_BYTES, MAX_REPLY_BYTES
from vault.store import DocumentSink, SealedFile, Store
from vault.throttle import ClientBudget
from vault.transaction import after_commit, on_rollback

REPLY_KEY_NAME = "BackUp source reply key"  # reveals nothing about the source
MAX_MESSAGE_CHARS = 100_000
ConsentMapping = Mapping[str, bool | None]
_DESIGNATION_TRIES = 20


class CodenameCollisionError(VaultError):
    """The new codename's derivation is already taken (astronomically unlikely)."""


@dataclass(frozen=True)
class SourceCredentials:
    """What a logged-in source's session holds: never the codename itself.

    `lookup_id` is set only for a new source not recorded yet (no row, no reply key):
    the first submission records it under `source_uuid` (see `submit_first`).
    """

    source_uuid: str
    reply_passphrase: str
    lookup_id: str | None = None


def _lookup_id(config: Config, codename: str) -> str:
    pepper = config.secrets.for_source().lookup_pepper
    return codenames.lookup_id(codename, pepper, config.scrypt)


def _passphrase(config: Config, codename: str) -> str:
    pepper = config.secrets.for_source().reply_key_pepper
    return codenames.reply_key_passphrase(codename, pepper, config.scrypt)


def begin_source(db: Session, config: Config, codename: str) -> SourceCredentials:
    """Credentials for a freshly generated codename: nothing is recorded yet.

    No row and no key pair exist until the first submission (`submit_first`): a codename
    that never sends anything leaves nothing behind, and creating codenames in bulk costs
    the server two derivations each, no key generation and no database write.
    """
    codename = codenames.normalize_codename(codename)
    lookup = _lookup_id(config, codename)
    if db.scalar(select(Source.id).where(Source.lookup_id == lookup)) is not None:
        raise CodenameCollisionError("codename already in use")
    return SourceCredentials(str(uuid.uuid4()), _passphrase(config, codename), lookup)


def create_source(
    db: Session, keyring: Keyring, config: Config, codename: str
) -> tuple[Source, SourceCredentials]:
    """Record a source with its reply key at once, without a submission.

    The source interface never does this (see `begin_source`): it serves tools that need
    a source before anything was sent (data imports, tests). The row is `pending`, so
    reviewers do not see it until it sends something.
    """
    credentials = begin_source(db, config, codename)
    source = _record_source(db, keyring, credentials)
    return source, SourceCredentials(source.uuid, credentials.reply_passphrase)


def _free_designation(db: Session) -> str:
    for _ in range(_DESIGNATION_TRIES):
        candidate = codenames.generate_designation()
        if db.scalar(select(Source.id).where(Source.designation == candidate)) is None:
            return candidate
    raise VaultError("no free designation found")


def _record_source(db: Session, keyring: Keyring, credentials: SourceCredentials) -> Source:
    """Insert the row with its reply key, flushed but not committed: the key's public
    file is deleted again unless the transaction commits.

    The key is portable (vault.services.reply_keys): its secret half, locked by the
    codename-derived passphrase and sealed for this row, is kept in the row itself, so
    every server behind the source address opens the source's replies.

    Raises CodenameCollisionError when the row cannot be inserted (its key is deleted).
    """
    if credentials.lookup_id is None:
        raise NotFoundError("no new source in these credentials")
    designation = _free_designation(db)
    key = reply_keys.generate(db, keyring, REPLY_KEY_NAME, credentials.reply_passphrase)
    on_rollback(db, lambda: keyring.delete_key(key.fingerprint))
    source = Source(
        uuid=credentials.source_uuid,
        lookup_id=credentials.lookup_id,
        designation=designation,
        reply_key_fingerprint=key.fingerprint,
        # Kept with the row: the API lists sources with their keys without gpg.
        reply_public_key=key.public,
        reply_secret_key=reply_keys.seal_secret(db, key.secret, credentials.source_uuid),
    )
    db.add(source)
    try:
        db.flush()
    except BaseException as exc:
        db.rollback()  # deletes the key (on_rollback)
        if isinstance(exc, IntegrityError):
            raise CodenameCollisionError("codename or designation already in use") from exc
        raise
    return source


def authenticate_source(
    db: Session, budget: ClientBudget, client: str, config: Config, codename: str
) -> tuple[Source, SourceCredentials]:
    """Log a source in; the same answer whether the codename never existed or was deleted.

    The cheap checks come first: the codename's form (InvalidCodenameError, nothing
    charged), then this client's budget (LoginThrottledError after one Redis round trip,
    before any derivation). A failed attempt costs one derivation (the lookup id); the
    reply-key passphrase is derived only on success. Raises AuthenticationError.
    """
    codename = codenames.normalize_codename(codename)
    budget.spend(client)
    lookup = _lookup_id(config, codename)
    candidates = db.scalars(
        select(Source).where(Source.lookup_id == lookup, Source.deleted_at.is_(None))
    ).all()
    found = None
    for source in candidates:  # constant-time comparison of what was found
        if hmac.compare_digest(source.lookup_id, lookup):
            found = source
    if found is None:
        raise AuthenticationError("unknown codename")
    return found, SourceCredentials(found.uuid, _passphrase(config, codename))


def find_active_source(db: Session, source_uuid: str) -> Source | None:
    return db.scalar(select(Source).where(Source.uuid == source_uuid, Source.deleted_at.is_(None)))


def get_active_source(db: Session, source_uuid: str) -> Source:
    source = find_active_source(db, source_uuid)
    if source is None:
        raise NotFoundError("no such source")
    return source


def _checked_message(message: str | None, documents: Sequence[DocumentSink]) -> str | None:
    message = (message or "").strip() or None
    if message is None and not documents:
        raise EmptySubmissionError("nothing to submit")
    if message is not None and len(message) > MAX_MESSAGE_CHARS:
        raise EmptySubmissionError("message too long")
    return message


def submit(
    db: Session,
    store: Store,
    source: Source,
    submission_fpr: str,
    message: str | None,
    documents: Sequence[DocumentSink],
    *,
    quota_bytes: int | None = None,
    consent_state: ConsentMapping | None = None,
) -> list[Submission]:
    """Seal a message and/or documents for a source, durably, then record them.

    Returns once the ciphertext is fsynced and the rows added; the caller commits (a
    request before it answers), and the files are shredded unless it does. On any
    failure here (StorageFullError, QuotaExceededError past `quota_bytes` included),
    the transaction is rolled back, every file written here is shredded and nothing is
    recorded. `consent_state`: the consent
    answers known after this submission, sealed beside it to the source's reply key
    (vault.services.source_consent), in the same all-or-nothing step.
    """
    message = _checked_message(message, documents)
    written: list[SealedFile] = []
    try:
        created = _seal_and_record(
            db, store, source, submission_fpr, message, documents, written, quota_bytes,
            consent_state,
        )  # fmt: skip
    except BaseException:
        _undo(db, store, written, documents)
        raise
    _after(db, store, source, written, consent_state)
    return created


def submit_first(
    db: Session,
    keyring: Keyring,
    store: Store,
    credentials: SourceCredentials,
    submission_fpr: str,
    message: str | None,
    documents: Sequence[DocumentSink],
    *,
    quota_bytes: int | None = None,
    consent_state: ConsentMapping | None = None,
) -> tuple[Source, list[Submission]]:
    """A new source's first submission: records the source, its reply key and what it
    sent in one transaction, so a failed first submission (StorageFullError and
    QuotaExceededError included) leaves no row and no key.

    Should the same source have been recorded meanwhile (the same session sending from
    two tabs at once), what is sent here joins it.
    """
    message = _checked_message(message, documents)
    written: list[SealedFile] = []
    try:
        source = _recorded_already(db, credentials)
        if source is None:
            try:
                source = _record_source(db, keyring, credentials)
            except CodenameCollisionError:
                source = _recorded_already(db, credentials)
                if source is None:  # a designation taken at the same instant: once more
                    source = _record_source(db, keyring, credentials)
        created = _seal_and_record(
            db, store, source, submission_fpr, message, documents, written, quota_bytes,
            consent_state,
        )  # fmt: skip
    except BaseException:
        _undo(db, store, written, documents)  # deletes a key made here too (on_rollback)
        raise
    _after(db, store, source, written, consent_state)
    return source, created


def _recorded_already(db: Session, credentials: SourceCredentials) -> Source | None:
    if credentials.lookup_id is None:
        raise NotFoundError("no new source in these credentials")
    source = db.scalar(select(Source).where(Source.lookup_id == credentials.lookup_id))
    if source is not None and source.deleted_at is not None:
        raise NotFoundError("no such source")
    return source


def _seal_and_record(
    db: Session,
    store: Store,
    source: Source,
    submission_fpr: str,
    message: str | None,
    documents: Sequence[DocumentSink],
    written: list[SealedFile],
    quota_bytes: int | None,
    consent_state: ConsentMapping | None = None,
) -> list[Submission]:
    """Seal and record, without committing; `written` collects files for `_undo`."""
    created: list[Submission] = []
    manifests: list[custody.Manifest] = []
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
        sealed = store.adopt(document.pending, source.uuid, f"{number}-{source.slug}-doc.gz.gpg")
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
    if consent_state is not None and created:
        # Beside the first item sent now, sharing its number (vault.services.source_consent).
        number = int(created[0].filename.split("-", 1)[0])
        written.append(source_consent.seal_state(store, source, number, consent_state))
    if quota_bytes is not None:
        quota.check(db, source, quota_bytes, sum(sealed.size for sealed in written))
    source.pending = False
    source.last_updated = utcnow()
    db.add_all(created)
    db.flush()  # gives the rows their uuids, which the receipts name
    unread.add_submissions(db, created)
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
    return created


def _undo(
    db: Session, store: Store, written: list[SealedFile], documents: Sequence[DocumentSink]
) -> None:
    db.rollback()
    for sealed in written:
        store.discard(sealed.path)  # nothing committed: no shared copy either
    for document in documents:
        document.abort()


def _after(
    db: Session,
    store: Store,
    source: Source,
    written: list[SealedFile],
    consent_state: ConsentMapping | None,
) -> None:
    """What follows the caller's transaction: the files written here are shredded if it
    rolls back (nothing acknowledged refers to them), and copied in it when the store
    is shared (`Store.keep`); older consent states are pruned once it commits."""
    for sealed in written:
        store.keep(db, sealed)
    if consent_state is not None:
        after_commit(db, partial(source_consent.prune, store, source))


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


def read_reply(store: Store, opener: Opener, source: Source, reply: Reply, passphrase: str) -> str:
    """Decrypt a reply in memory for the source who owns it, with what opens its reply
    key (`reply_keys.opening`).

    Raises OutputTooLargeError for a reply whose ciphertext or plaintext is over the
    limits (`vault.services.replies`): a client-encrypted reply may be a compression
    bomb, and the source's page must stay small.
    """
    if reply.source_id != source.id:
        raise NotFoundError("no such reply")
    path = store.path_of(source.uuid, reply.filename)
    if path.stat().st_size > MAX_ENCRYPTED_REPLY_BYTES:
        raise OutputTooLargeError("reply ciphertext over the limit")
    plaintext = opener.open_bytes(path.read_bytes(), passphrase, max_output=MAX_REPLY_BYTES)
    return plaintext.decode("utf-8", "replace")


def hide_reply_for_source(db: Session, source: Source, reply_uuid: str) -> None:
    """A source deletes a reply from their view; reviewers keep their copy."""
    reply = db.scalar(select(Reply).where(Reply.uuid == reply_uuid, Reply.source_id == source.id))
    if reply is None:
        raise NotFoundError("no such reply")
    reply.deleted_by_source = True
