"""Unread rows: what each reader has not seen yet, kept so the inbox finds it directly.

`seen_submissions` is the record of what a reviewer has seen. Asking it "which sources
have a submission this reviewer has not seen" means looking for a missing row under
every submission; with a well-triaged inbox (almost everything seen) the inbox's unread
filter walked every source to find the few left. `unread_submissions` holds the
complement for readers (active analysts and admins): one row per (reader, live
submission not seen), indexed by (reviewer, source), so the filter visits only them.

It is kept here, from the places that change it:

- a submission recorded: a row for each reader (`add_submissions`);
- a submission seen: the reader's row removed (`mark_seen`);
- a reader's rows rebuilt from `seen_submissions` (`resync`) when the account is
  created, changes role or is reactivated, and at each login: whatever a concurrent
  transaction missed (a submission recorded while the account was being created) is
  made right at the next login;
- a submission or source whose deletion is requested: its rows go at once (`forget`),
  with the mark that hides it (vault.services.deletion); the rows left when the job
  removes it go with it (foreign keys, ON DELETE CASCADE).

So the rows name only live submissions of live sources, and the inbox reads them alone
(index-only), without looking at `submissions`.

Inserts ignore rows already there, so two writers adding the same row never fail a
source's submission.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, delete, exists, literal, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vault.models import (
    Reviewer,
    Role,
    SeenSubmission,
    Source,
    Submission,
    UnreadSubmission,
)

__all__ = ["READER_ROLES", "add_submissions", "forget", "mark_seen", "resync"]

# A rebuild adding at least this many rows refreshes PostgreSQL's statistics of the
# table at once (see `resync`).
ANALYZE_AFTER = 5_000
# The roles that read every source (vault.services.reviewers.can_read_sources).
READER_ROLES = (Role.ANALYST, Role.ADMIN)
_COLUMNS = ("submission_id", "reviewer_id", "source_id")


def _insert_ignoring(db: Session, rows: Any) -> int:
    """INSERT … SELECT `rows` into unread_submissions, skipping rows already there.
    Returns how many were added."""
    dialect = db.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = (
            postgresql.insert(UnreadSubmission).from_select(_COLUMNS, rows).on_conflict_do_nothing()
        )
    elif dialect == "sqlite":
        statement = (
            sqlite.insert(UnreadSubmission).from_select(_COLUMNS, rows).on_conflict_do_nothing()
        )
    else:  # pragma: no cover - BackUp runs on these two
        raise NotImplementedError(dialect)
    result = db.execute(statement.execution_options(preserve_rowcount=True))
    return int(getattr(result, "rowcount", 0))


def add_submissions(db: Session, submissions: Sequence[Submission]) -> None:
    """A row for each active reader and each of these (flushed) submissions."""
    for submission in submissions:
        readers = select(literal(submission.id), Reviewer.id, literal(submission.source_id)).where(
            Reviewer.role.in_(READER_ROLES), Reviewer.is_active.is_(True)
        )
        _insert_ignoring(db, readers)


def mark_seen(db: Session, reviewer: Reviewer, submission_ids: Sequence[int]) -> None:
    """The reviewer has seen these submissions: their rows go (seen rows are added by
    the caller, in the same transaction)."""
    if submission_ids:
        db.execute(
            delete(UnreadSubmission).where(
                UnreadSubmission.reviewer_id == reviewer.id,
                UnreadSubmission.submission_id.in_(list(submission_ids)),
            )
        )


def forget(db: Session, *, submission_id: int | None = None, source_id: int | None = None) -> None:
    """A submission's or a source's deletion is requested: every reader's rows go."""
    if submission_id is not None:
        db.execute(delete(UnreadSubmission).where(UnreadSubmission.submission_id == submission_id))
    if source_id is not None:
        db.execute(delete(UnreadSubmission).where(UnreadSubmission.source_id == source_id))


def resync(db: Session, reviewer: Reviewer) -> None:
    """Rebuild the reviewer's rows from `seen_submissions` (flushed, not committed).

    A reviewer who reads no sources keeps none. Otherwise rows seen or deleted meanwhile
    are removed and missing ones added: one pass over the live submissions, at login.
    """
    mine = UnreadSubmission.reviewer_id == reviewer.id
    if not (reviewer.is_active and reviewer.role in READER_ROLES):
        db.execute(delete(UnreadSubmission).where(mine))
        return
    seen = exists().where(
        SeenSubmission.submission_id == Submission.id,
        SeenSubmission.reviewer_id == reviewer.id,
    )
    seen_or_gone = or_(
        exists().where(
            SeenSubmission.submission_id == UnreadSubmission.submission_id,
            SeenSubmission.reviewer_id == reviewer.id,
        ),
        exists().where(
            Submission.id == UnreadSubmission.submission_id, Submission.deleted_at.is_not(None)
        ),
        exists().where(Source.id == UnreadSubmission.source_id, Source.deleted_at.is_not(None)),
    )
    db.execute(delete(UnreadSubmission).where(mine, seen_or_gone))
    missing = (
        select(Submission.id, literal(reviewer.id), Submission.source_id)
        .join(Source, Source.id == Submission.source_id)
        .where(
            Submission.deleted_at.is_(None),
            Source.deleted_at.is_(None),
            ~seen,
        )
    )
    # Rows already there are skipped by the insert itself (its conflict check is one
    # probe of the primary key, as a NOT EXISTS here would be). A NOT EXISTS on the
    # table being filled let PostgreSQL plan it as a scan per row when its statistics
    # said the table was empty (a first login after the table was made, or after an
    # import): 12 s for a reader with 50,000 unread submissions.
    added = _insert_ignoring(db, missing)
    if added >= ANALYZE_AFTER and db.get_bind().dialect.name == "postgresql":
        # The inbox reads these rows at once; until autovacuum analyzes the table
        # (within a minute or so), PostgreSQL's statistics still describe it without
        # them, and it planned the unread filter's read of a reader's sources as a hash
        # of all their rows (276 estimated, 50,000 there: 9.4 ms instead of 0.35 ms per
        # page). ANALYZE samples the table (tens of ms), a cost only such a login pays;
        # it counts this transaction's own rows, and its lock (held to the commit) holds
        # up no reader or writer, only another ANALYZE or VACUUM of the table. Without
        # ownership of the table PostgreSQL only warns, and autovacuum catches up.
        db.execute(text("ANALYZE unread_submissions"))
