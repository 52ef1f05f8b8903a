"""Submissions as reviewers see them: one or all of a source's, listed with who has seen
them, downloaded, marked seen, deleted.

Every function checks the reviewer's role first (through `inbox.get_source`, or
`can_read_sources` for lists) and audits by identifiers only. None commits: the request
does (a deletion request excepted, see vault.services.deletion).
"""

from __future__ import annotations

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
from vault.services.inbox import is_uuid, require_reader
from vault.store import Store

__all__ = [
    "ItemNotFoundError",
    "delete_submission",
    "download_submission",
    "get_submission",
    "kind_counts",
    "list_submissions",
    "mark_items_seen",
    "mark_seen",
    "seen_by",
]


class ItemNotFoundError(NotFoundError):
    """One of the items to mark seen does not exist (or is not of the kind named)."""

    def __init__(self, kind: str, item_uuid: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind
        self.item_uuid = item_uuid


def get_submission(
    db: Session, reviewer: Reviewer, source_uuid: str, submission_uuid: str
) -> Submission:
    source = inbox.get_source(db, reviewer, source_uuid)
    submission = db.scalar(
        select(Submission).where(
            Submission.uuid == submission_uuid,
            Submission.source_id == source.id,
            Submission.deleted_at.is_(None),
        )
    )
    if submission is None:
        raise NotFoundError("no such submission")
    return submission


def _mark_seen(db: Session, reviewer: Reviewer, submissions: list[Submission]) -> None:
    if not submissions:
        return
    already = set(
        db.scalars(
            select(SeenSubmission.submission_id).where(
                SeenSubmission.reviewer_id == reviewer.id,
                SeenSubmission.submission_id.in_([s.id for s in submissions]),
            )
        )
    )
    for submission in submissions:
        if submission.id not in already:
            db.add(SeenSubmission(submission_id=submission.id, reviewer_id=reviewer.id))
    unread.mark_seen(db, reviewer, [s.id for s in submissions])


def download_submission(
    db: Session, store: Store, reviewer: Reviewer, source_uuid: str, submission_uuid: str
) -> tuple[Submission, Path]:
    """The stored ciphertext's path; marks the submission seen and downloaded, audited."""
    submission = get_submission(db, reviewer, source_uuid, submission_uuid)
    path = store.path_of(source_uuid, submission.filename)
    if not path.is_file():
        raise NotFoundError("stored file missing")
    _mark_seen(db, reviewer, [submission])
    submission.downloaded = True
    audit.record(db, reviewer, "submission_downloaded", "submission", submission.uuid)
    return submission, path


def mark_seen(
    db: Session, reviewer: Reviewer, source_uuid: str, submission_uuid: str | None = None
) -> None:
    """Mark one submission, or every submission of the source, seen by this reviewer."""
    if submission_uuid is not None:
        targets = [get_submission(db, reviewer, source_uuid, submission_uuid)]
    else:
        source = inbox.get_source(db, reviewer, source_uuid)
        targets = list(
            db.scalars(
                select(Submission).where(
                    Submission.source_id == source.id, Submission.deleted_at.is_(None)
                )
            )
        )
    _mark_seen(db, reviewer, targets)
    for submission in targets:
        audit.record(db, reviewer, "submission_seen", "submission", submission.uuid)


def delete_submission(
    db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str, submission_uuid: str
) -> None:
    """Hide the submission at once; a background job shreds the file and the row."""
    submission = get_submission(db, reviewer, source_uuid, submission_uuid)
    audit.record(db, reviewer, "submission_deletion_requested", "submission", submission.uuid)
    deletion.request_submission_deletion(db, redis, submission)  # queued once committed


def kind_counts(db: Session, source_ids: Sequence[int]) -> dict[int, dict[SubmissionKind, int]]:
    """Live submissions per source and kind (documents and messages), in one query (the
    API's whole list counts them with its sources: vault.services.inbox.source_listing)."""
    counts: dict[int, dict[SubmissionKind, int]] = defaultdict(dict)
    if not source_ids:
        return counts
    query = select(Submission.source_id, Submission.kind, func.count(Submission.id)).where(
        Submission.deleted_at.is_(None), Submission.source_id.in_(source_ids)
    )
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
        require_reader(reviewer)
        audit.record(db, reviewer, "submissions_listed")
    return list(db.scalars(query))


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
    require_reader(reviewer)
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
    unique = list({s.id: s for s in targets}.values())
    _mark_seen(db, reviewer, unique)
    for submission in unique:
        audit.record(db, reviewer, "submission_seen", "submission", submission.uuid)
    for reply in {r.id: r for r in seen_replies}.values():
        if reply.reviewer_id != reviewer.id and all(
            row.reviewer_id != reviewer.id for row in reply.seen
        ):
            db.add(SeenReply(reply_id=reply.id, reviewer_id=reviewer.id))
        audit.record(db, reviewer, "reply_seen", "reply", reply.uuid)
