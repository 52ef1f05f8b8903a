"""Sources as reviewers see them: listed, opened, starred, flagged, deleted (the source,
or its conversation).

Every function checks the reviewer's role first (partners see no source until case
referral exists) and audits the access by identifiers only. None commits: the request
does (a deletion request excepted, see vault.services.deletion). What a source sent is
in vault.services.submissions, what it was sent in vault.services.replies.

A source's reply public key (`public_keys`, what the API hands every reviewer client to
encrypt replies to) is kept in `sources.reply_public_key` when the key is made, so
listing 10,000 sources costs no gpg call; a source made before that column (migration
0013) gets it from the keyring the first time it is listed, and it is stored then.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from redis import Redis
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vault.errors import NotFoundError
from vault.models import Reply, Reviewer, SeenSubmission, Source, Submission, SubmissionKind
from vault.ports import Keyring
from vault.services import audit, deletion
from vault.services.reviewers import AccessDeniedError, can_read_sources

__all__ = [
    "ListedSource",
    "SourcePage",
    "SourceSummary",
    "delete_conversation",
    "delete_source",
    "flag_source",
    "get_source",
    "is_uuid",
    "list_sources",
    "open_source",
    "public_keys",
    "require_reader",
    "set_starred",
    "source_listing",
]

# Every uuid BackUp issues: str(uuid4()). Anything else names nothing, and is refused
# before it reaches the database (PostgreSQL rejects a NUL in a string with an error).
# Ids bound per query where a list may be long (SQLite binds at most 32,766).
_BATCH = 1000
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_uuid(value: str) -> bool:
    return bool(_UUID.fullmatch(value))  # "$" alone would let a trailing newline pass


@dataclass(frozen=True)
class SourceSummary:
    uuid: str
    designation: str
    last_updated: dt.datetime
    starred: bool
    submissions: int
    replies: int
    unread: int


@dataclass(frozen=True)
class SourcePage:
    source: Source
    submissions: list[Submission]
    replies: list[Reply]
    seen: frozenset[int]  # ids of the submissions this reviewer has seen


def require_reader(reviewer: Reviewer) -> None:
    if not can_read_sources(reviewer):
        raise AccessDeniedError("no access to sources")


def _unseen_by(reviewer: Reviewer) -> ColumnElement[bool]:
    return ~exists().where(
        SeenSubmission.submission_id == Submission.id,
        SeenSubmission.reviewer_id == reviewer.id,
    )


def list_sources(db: Session, reviewer: Reviewer) -> list[SourceSummary]:
    """Visible sources, most recently active first; empty for a partner.

    Pending sources (no submission yet) and sources being deleted are hidden.
    """
    if not can_read_sources(reviewer):
        return []
    live_submission = (Submission.source_id == Source.id) & Submission.deleted_at.is_(None)
    submissions = (
        select(func.count(Submission.id)).where(live_submission).correlate(Source).scalar_subquery()
    )
    unread = (
        select(func.count(Submission.id))
        .where(live_submission, _unseen_by(reviewer))
        .correlate(Source)
        .scalar_subquery()
    )
    reply_count = (
        select(func.count(Reply.id))
        .where(Reply.source_id == Source.id, Reply.deleted_at.is_(None))
        .correlate(Source)
        .scalar_subquery()
    )
    rows = db.execute(
        select(Source, submissions, reply_count, unread)
        .where(Source.pending.is_(False), Source.deleted_at.is_(None))
        .order_by(Source.last_updated.desc(), Source.id.desc())
    ).all()
    audit.record(db, reviewer, "sources_listed")
    return [
        SourceSummary(
            uuid=source.uuid,
            designation=source.designation,
            last_updated=source.last_updated,
            starred=source.starred,
            submissions=int(n_sub or 0),
            replies=int(n_rep or 0),
            unread=int(n_unread or 0),
        )
        for source, n_sub, n_rep, n_unread in rows
    ]


def get_source(db: Session, reviewer: Reviewer, source_uuid: str) -> Source:
    """A visible source, or NotFoundError; AccessDeniedError for roles without access."""
    require_reader(reviewer)
    source = db.scalar(
        select(Source).where(
            Source.uuid == source_uuid, Source.pending.is_(False), Source.deleted_at.is_(None)
        )
    )
    if source is None:
        raise NotFoundError("no such source")
    return source


def open_source(db: Session, reviewer: Reviewer, source_uuid: str) -> SourcePage:
    """Everything the source page shows (ciphertext facts only); audited."""
    source = get_source(db, reviewer, source_uuid)
    subs = list(
        db.scalars(
            select(Submission)
            .where(Submission.source_id == source.id, Submission.deleted_at.is_(None))
            .order_by(Submission.id)
        )
    )
    reps = list(
        db.scalars(
            select(Reply)
            .where(Reply.source_id == source.id, Reply.deleted_at.is_(None))
            .order_by(Reply.id)
        )
    )
    seen = frozenset(
        db.scalars(
            select(SeenSubmission.submission_id)
            .join(Submission, Submission.id == SeenSubmission.submission_id)
            .where(Submission.source_id == source.id, SeenSubmission.reviewer_id == reviewer.id)
        )
    )
    audit.record(db, reviewer, "source_viewed", "source", source.uuid)
    return SourcePage(source, subs, reps, seen)


def set_starred(db: Session, reviewer: Reviewer, source_uuid: str, starred: bool) -> None:
    source = get_source(db, reviewer, source_uuid)
    source.starred = starred
    audit.record(
        db, reviewer, "source_starred" if starred else "source_unstarred", "source", source.uuid
    )


def delete_source(db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str) -> None:
    """Hide the source at once; a background job shreds its files, key and rows."""
    source = get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "source_deletion_requested", "source", source.uuid)
    deletion.request_source_deletion(db, redis, source)


@dataclass(frozen=True, slots=True)
class ListedSource:
    """What the API's list says of a source (the same names as `Source`'s columns), read
    as plain columns: building 10,000 ORM objects was a third of the list's time."""

    id: int
    uuid: str
    designation: str
    starred: bool
    last_updated: dt.datetime
    interaction_count: int
    reply_key_fingerprint: str
    reply_public_key: str | None
    documents: int
    messages: int


def source_listing(db: Session, keyring: Keyring, reviewer: Reviewer) -> list[ListedSource]:
    """Every visible source (none for a partner), most recently active first, with its
    armored reply key and its live documents and messages counted; audited.

    One query: the sources' columns joined to their submissions counted per source and
    kind in one grouped pass (no ORM object, no query per source). A source whose key
    is not stored yet (made before migration 0013) goes through `public_keys`, once.
    """
    audit.record(db, reviewer, "sources_listed")
    if not can_read_sources(reviewer):
        return []
    counted = (
        select(
            Submission.source_id.label("source_id"),
            func.count().filter(Submission.kind == SubmissionKind.FILE).label("documents"),
            func.count().filter(Submission.kind == SubmissionKind.MESSAGE).label("messages"),
        )
        .where(Submission.deleted_at.is_(None))
        .group_by(Submission.source_id)
        .subquery()
    )
    rows = db.execute(
        select(
            Source.id,
            Source.uuid,
            Source.designation,
            Source.starred,
            Source.last_updated,
            Source.interaction_count,
            Source.reply_key_fingerprint,
            Source.reply_public_key,
            func.coalesce(counted.c.documents, 0),
            func.coalesce(counted.c.messages, 0),
        )
        .outerjoin(counted, counted.c.source_id == Source.id)
        .where(Source.pending.is_(False), Source.deleted_at.is_(None))
        .order_by(Source.last_updated.desc(), Source.id.desc())
    ).all()
    listed = [ListedSource(*row) for row in rows]
    missing = [s.id for s in listed if s.reply_public_key is None]
    if not missing:
        return listed
    keys: dict[int, str | None] = {}
    for start in range(0, len(missing), _BATCH):
        batch = missing[start : start + _BATCH]
        keys.update(
            public_keys(db, keyring, db.scalars(select(Source).where(Source.id.in_(batch))).all())
        )
    return [
        s if s.reply_public_key is not None else replace(s, reply_public_key=keys.get(s.id))
        for s in listed
    ]


def flag_source(db: Session, reviewer: Reviewer, source_uuid: str) -> None:
    """SecureDrop's "flag for reply" is obsolete (sources get their key at once): checked
    and audited, nothing stored."""
    source = get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "source_flagged", "source", source.uuid)


def delete_conversation(db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str) -> None:
    """Delete every submission and reply of a source, keeping the source (and its key)."""
    source = get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "conversation_deletion_requested", "source", source.uuid)
    for submission in list(
        db.scalars(
            select(Submission).where(
                Submission.source_id == source.id, Submission.deleted_at.is_(None)
            )
        )
    ):
        deletion.request_submission_deletion(db, redis, submission)
    for reply in list(
        db.scalars(select(Reply).where(Reply.source_id == source.id, Reply.deleted_at.is_(None)))
    ):
        deletion.request_reply_deletion(db, redis, reply)


def public_keys(db: Session, keyring: Keyring, sources: Sequence[Source]) -> dict[int, str | None]:
    """Each source's armored reply public key (None: its key is gone from the keyring,
    e.g. a source being deleted). Keys found only in the keyring are stored (the caller
    commits)."""
    found: dict[int, str | None] = {}
    for source in sources:
        armored = source.reply_public_key
        if armored is None:
            try:
                armored = keyring.export_public(source.reply_key_fingerprint)
            except Exception:  # a source whose key is being deleted: no key to reply to
                armored = None
            else:
                source.reply_public_key = armored
        found[source.id] = armored
    return found
