"""What the reviewer API needs beyond `vault.services.inbox`: submissions and replies as
lists with who has seen them, reply download and deletion, conversation deletion,
marking items seen by uuid, flag, and accounts. Replies encrypted by the client are in
`vault.services.replies`.

Same rules as the inbox: every function checks the reviewer's role first (through
`inbox.get_source`, or `can_read_sources` for lists) and audits by identifiers only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.errors import NotFoundError
from vault.models import (
    Reply,
    Reviewer,
    SeenReply,
    SeenSubmission,
    Source,
    Submission,
    SubmissionKind,
)
from vault.services import audit, deletion, inbox, unread
from vault.services.reviewers import AccessDeniedError, can_read_sources
from vault.store import Store

__all__ = [
    "ItemNotFoundError",
    "current_user",
    "delete_conversation",
    "delete_reply",
    "download_reply",
    "flag_source",
    "get_reply",
    "is_uuid",
    "kind_counts",
    "list_replies",
    "list_submissions",
    "list_users",
    "mark_items_seen",
    "seen_by",
    "visible_sources",
]


class ItemNotFoundError(NotFoundError):
    """One of the items to mark seen does not exist (or is not of the kind named)."""

    def __init__(self, kind: str, item_uuid: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind
        self.item_uuid = item_uuid


# Every uuid BackUp issues: str(uuid4()). Anything else names nothing, and is refused
# before it reaches the database (PostgreSQL rejects a NUL in a string with an error).
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_uuid(value: str) -> bool:
    return bool(_UUID.fullmatch(value))  # "$" alone would let a trailing newline pass


def _require_reader(reviewer: Reviewer) -> None:
    if not can_read_sources(reviewer):
        raise AccessDeniedError("no access to sources")


# -- listing ---------------------------------------------------------------------------------


def visible_sources(db: Session, reviewer: Reviewer) -> list[Source]:
    """Every visible source (none for a partner), most recently active first; audited."""
    audit.record(db, reviewer, "sources_listed")
    db.commit()
    if not can_read_sources(reviewer):
        return []
    return list(
        db.scalars(
            select(Source)
            .where(Source.pending.is_(False), Source.deleted_at.is_(None))
            .order_by(Source.last_updated.desc(), Source.id.desc())
        )
    )


def kind_counts(
    db: Session, source_ids: Sequence[int] | None
) -> dict[int, dict[SubmissionKind, int]]:
    """Live submissions per source and kind (documents and messages), in one query;
    `None`: of every visible source (one pass, rather than thousands of bound ids)."""
    counts: dict[int, dict[SubmissionKind, int]] = defaultdict(dict)
    query = select(Submission.source_id, Submission.kind, func.count(Submission.id)).where(
        Submission.deleted_at.is_(None)
    )
    if source_ids is None:
        query = query.join(Source, Source.id == Submission.source_id).where(
            Source.pending.is_(False), Source.deleted_at.is_(None)
        )
    elif not source_ids:
        return counts
    else:
        query = query.where(Submission.source_id.in_(source_ids))
    for source_id, kind, count in db.execute(query.group_by(Submission.source_id, Submission.kind)):
        counts[source_id][kind] = int(count)
    return counts


def seen_by(db: Session, submission_ids: Iterable[int]) -> dict[int, list[str]]:
    """The uuids of the reviewers who have seen each submission."""
    ids = list(submission_ids)
    result: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return result
    rows = db.execute(
        select(SeenSubmission.submission_id, Reviewer.uuid)
        .join(Reviewer, Reviewer.id == SeenSubmission.reviewer_id)
        .where(SeenSubmission.submission_id.in_(ids))
        .order_by(SeenSubmission.id)
    )
    for submission_id, reviewer_uuid in rows:
        result[submission_id].append(reviewer_uuid)
    return result


def list_submissions(
    db: Session, reviewer: Reviewer, source_uuid: str | None = None
) -> list[Submission]:
    """The live submissions of one source, or of every visible source; audited."""
    query = (
        select(Submission)
        .join(Source, Source.id == Submission.source_id)
        .where(
            Submission.deleted_at.is_(None),
            Source.deleted_at.is_(None),
            Source.pending.is_(False),
        )
        .order_by(Submission.id)
    )
    if source_uuid is not None:
        source = inbox.get_source(db, reviewer, source_uuid)
        query = query.where(Submission.source_id == source.id)
        audit.record(db, reviewer, "submissions_listed", "source", source.uuid)
    else:
        _require_reader(reviewer)
        audit.record(db, reviewer, "submissions_listed")
    db.commit()
    return list(db.scalars(query))


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
        _require_reader(reviewer)
        audit.record(db, reviewer, "replies_listed")
    db.commit()
    return list(db.scalars(query))


# -- one reply -------------------------------------------------------------------------------


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
    """The stored ciphertext of a reply; audited."""
    reply = get_reply(db, reviewer, source_uuid, reply_uuid)
    path = store.path_of(source_uuid, reply.filename)
    if not path.is_file():
        raise NotFoundError("stored file missing")
    audit.record(db, reviewer, "reply_downloaded", "reply", reply.uuid)
    db.commit()
    return reply, path


# -- deletion --------------------------------------------------------------------------------


def delete_reply(
    db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str, reply_uuid: str
) -> None:
    """Hide the reply at once; a background job shreds the file and the row."""
    reply = get_reply(db, reviewer, source_uuid, reply_uuid)
    audit.record(db, reviewer, "reply_deletion_requested", "reply", reply.uuid)
    deletion.request_reply_deletion(db, redis, reply)


def delete_conversation(db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str) -> None:
    """Delete every submission and reply of a source, keeping the source (and its key)."""
    source = inbox.get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "conversation_deletion_requested", "source", source.uuid)
    db.commit()
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


# -- seen ------------------------------------------------------------------------------------


def _live_submission(db: Session, item_uuid: str, kind: SubmissionKind) -> Submission | None:
    return db.scalar(
        select(Submission)
        .join(Source, Source.id == Submission.source_id)
        .where(
            Submission.uuid == item_uuid,
            Submission.kind == kind,
            Submission.deleted_at.is_(None),
            Source.deleted_at.is_(None),
        )
    )


def mark_items_seen(
    db: Session,
    reviewer: Reviewer,
    files: Sequence[str],
    messages: Sequence[str],
    replies: Sequence[str],
) -> None:
    """Mark submissions seen by this reviewer; all or nothing (ItemNotFoundError).

    Replies are recorded per reviewer too (their author has read them already).
    """
    _require_reader(reviewer)
    targets: list[Submission] = []
    for kind_name, uuids, kind in (
        ("file", files, SubmissionKind.FILE),
        ("message", messages, SubmissionKind.MESSAGE),
    ):
        for item_uuid in uuids:
            found = _live_submission(db, item_uuid, kind) if is_uuid(item_uuid) else None
            if found is None:
                raise ItemNotFoundError(kind_name, item_uuid)
            targets.append(found)
    seen_replies: list[Reply] = []
    for item_uuid in replies:
        if not is_uuid(item_uuid):
            raise ItemNotFoundError("reply", item_uuid)
        reply = db.scalar(
            select(Reply)
            .join(Source, Source.id == Reply.source_id)
            .where(Reply.uuid == item_uuid, Reply.deleted_at.is_(None), Source.deleted_at.is_(None))
        )
        if reply is None:
            raise ItemNotFoundError("reply", item_uuid)
        seen_replies.append(reply)
    already = set(
        db.scalars(
            select(SeenSubmission.submission_id).where(
                SeenSubmission.reviewer_id == reviewer.id,
                SeenSubmission.submission_id.in_([s.id for s in targets]),
            )
        )
    )
    for submission in {s.id: s for s in targets}.values():
        if submission.id not in already:
            db.add(SeenSubmission(submission_id=submission.id, reviewer_id=reviewer.id))
        audit.record(db, reviewer, "submission_seen", "submission", submission.uuid)
    unread.mark_seen(db, reviewer, [s.id for s in targets])
    for reply in {r.id: r for r in seen_replies}.values():
        if reply.reviewer_id != reviewer.id and all(
            row.reviewer_id != reviewer.id for row in reply.seen
        ):
            db.add(SeenReply(reply_id=reply.id, reviewer_id=reviewer.id))
        audit.record(db, reviewer, "reply_seen", "reply", reply.uuid)
    db.commit()


# -- flag and accounts -----------------------------------------------------------------------


def flag_source(db: Session, reviewer: Reviewer, source_uuid: str) -> None:
    """SecureDrop's "flag for reply" is obsolete (sources get their key at once): checked
    and audited, nothing stored."""
    source = inbox.get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "source_flagged", "source", source.uuid)
    db.commit()


def current_user(db: Session, reviewer: Reviewer) -> Reviewer:
    audit.record(db, reviewer, "account_viewed", "reviewer", reviewer.uuid)
    db.commit()
    return reviewer


def list_users(db: Session, reviewer: Reviewer) -> list[Reviewer]:
    """Every account (clients show who wrote a reply); a partner sees only themselves."""
    audit.record(db, reviewer, "accounts_listed")
    db.commit()
    if not can_read_sources(reviewer):
        return [reviewer]
    return list(db.scalars(select(Reviewer).order_by(Reviewer.username)))
