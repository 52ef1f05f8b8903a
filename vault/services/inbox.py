"""What reviewers do with sources: list, open, download, mark seen, star, reply, delete.

Every function checks the reviewer's role first (partners see no source until case
referral exists) and audits the access by identifiers only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vault.errors import NotFoundError
from vault.models import Reply, Reviewer, SeenSubmission, Source, Submission
from vault.ports import Keyring
from vault.services import audit, deletion, replies, unread
from vault.services.reviewers import AccessDeniedError, can_read_sources
from vault.store import Store

__all__ = [
    "SourcePage",
    "SourceSummary",
    "delete_source",
    "delete_submission",
    "download_submission",
    "get_source",
    "get_submission",
    "list_sources",
    "mark_seen",
    "open_source",
    "reply_to_source",
    "set_starred",
]


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


def _require_reader(reviewer: Reviewer) -> None:
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
    db.commit()
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
    _require_reader(reviewer)
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
    db.commit()
    return SourcePage(source, subs, reps, seen)


def get_submission(
    db: Session, reviewer: Reviewer, source_uuid: str, submission_uuid: str
) -> Submission:
    source = get_source(db, reviewer, source_uuid)
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
    db.commit()
    return submission, path


def mark_seen(
    db: Session, reviewer: Reviewer, source_uuid: str, submission_uuid: str | None = None
) -> None:
    """Mark one submission, or every submission of the source, seen by this reviewer."""
    if submission_uuid is not None:
        targets = [get_submission(db, reviewer, source_uuid, submission_uuid)]
    else:
        source = get_source(db, reviewer, source_uuid)
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
    db.commit()


def set_starred(db: Session, reviewer: Reviewer, source_uuid: str, starred: bool) -> None:
    source = get_source(db, reviewer, source_uuid)
    source.starred = starred
    audit.record(
        db, reviewer, "source_starred" if starred else "source_unstarred", "source", source.uuid
    )
    db.commit()


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
    source = get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "reply_sent", "source", source.uuid)
    try:
        return replies.send_reply(db, store, keyring, source, reviewer, text, submission_fpr)
    except BaseException:
        db.rollback()  # send_reply refuses before touching the session: drop the event
        raise


def delete_submission(
    db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str, submission_uuid: str
) -> None:
    """Hide the submission at once; a background job shreds the file and the row."""
    submission = get_submission(db, reviewer, source_uuid, submission_uuid)
    audit.record(db, reviewer, "submission_deletion_requested", "submission", submission.uuid)
    deletion.request_submission_deletion(db, redis, submission)  # commits the event too


def delete_source(db: Session, redis: Redis, reviewer: Reviewer, source_uuid: str) -> None:
    """Hide the source at once; a background job shreds its files, key and rows."""
    source = get_source(db, reviewer, source_uuid)
    audit.record(db, reviewer, "source_deletion_requested", "source", source.uuid)
    deletion.request_source_deletion(db, redis, source)
