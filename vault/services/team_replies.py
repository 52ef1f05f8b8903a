"""The team's side of replies: each reply read on the source page from its team copy,
team copies re-sealed to new readers.

A reply the server sealed has a team copy (vault.services.replies): the same text sealed
to the readers of case notes (active analysts and admins holding an account key) and
the submission key. It is opened in memory with the key passphrase of the reader's
session, exactly as notes are, and follows the notes' rules when the readers change
(vault.services.resealing): a reader who logs in re-seals a bounded batch of the copies
it can open (`reseal_pending_copies`), and a reader who opens a source page re-seals
that source's copies (`read_replies`). Nobody gains access that sending the reply now
would not give.

Replies without a team copy are read on the workstation (the submission key opens the
source's copy, which `replies.download_reply` hands over as ciphertext): those sealed before
team copies existed, those the reviewer's own client encrypted (the API: the server
never saw their text), and those sent when no reader held a key (or the copy could not
be sealed: the reply to the source never waits on it).

Audit: `replies_read` (the source's uuid, how many replies were opened) when a page
shows at least one reply's text, `reply_downloaded` (the reply's uuid, its source's),
`reply_copy_resealed` (the reply's uuid). Identifiers and counts only, never text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.models import Reply, ReplyCopy, ReplySealer, Reviewer, Source
from vault.models.note import canonical_recipients
from vault.ports import Keyring
from vault.services import audit, inbox, notes, resealing

__all__ = [
    "ReplyState",
    "ReplyView",
    "read_replies",
    "reseal_pending_copies",
]


class ReplyState(enum.Enum):
    """What a reviewer's page can show of a reply."""

    OPENED = "opened"  # the team copy opened with this session's key: `text` is set
    NOT_YOURS = "not_yours"  # a team copy exists, not sealed to this account's key (yet)
    LOCKED = "locked"  # this session holds no unlocked key
    BEFORE_COPIES = "before_copies"  # sealed before team copies existed
    CLIENT = "client"  # encrypted by the sender's own client: the server never saw it
    NO_COPY = "no_copy"  # sealed by the server without a team copy (no reader held a key)


@dataclass(frozen=True)
class ReplyView:
    reply: Reply
    state: ReplyState
    text: str | None = None


def _without_copy(reply: Reply) -> ReplyState:
    if reply.sealed_by is None:
        return ReplyState.BEFORE_COPIES
    if reply.sealed_by is ReplySealer.CLIENT:
        return ReplyState.CLIENT
    return ReplyState.NO_COPY


def read_replies(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    source_uuid: str,
    session_key_passphrase: str | None,
    *,
    submission_fingerprint: str | None = None,
) -> list[ReplyView]:
    """The source's replies, oldest first, each with its text where this session's key
    opens its team copy (the caller commits).

    With `submission_fingerprint`, the copies opened whose recipients are not the current
    readers are re-sealed to them (if `actor` is one of those readers). Audited as
    `replies_read` when at least one text is shown.
    """
    source = inbox.get_source(db, actor, source_uuid)
    replies = list(
        db.scalars(
            select(Reply)
            .where(Reply.source_id == source.id, Reply.deleted_at.is_(None))
            .order_by(Reply.id)
        )
    )
    copies = {
        copy.reply_id: copy
        for copy in db.scalars(
            select(ReplyCopy).where(ReplyCopy.reply_id.in_([reply.id for reply in replies]))
        )
    }
    opened = (
        resealing.open_each(keyring, list(copies.values()), session_key_passphrase)
        if session_key_passphrase and copies
        else []
    )
    texts = {copy.reply_id: text for copy, text in opened}
    views: list[ReplyView] = []
    for reply in replies:
        if reply.id not in copies:
            views.append(ReplyView(reply, _without_copy(reply)))
        elif not session_key_passphrase:
            views.append(ReplyView(reply, ReplyState.LOCKED))
        elif (text := texts.get(reply.id)) is None:
            views.append(ReplyView(reply, ReplyState.NOT_YOURS))
        else:
            views.append(ReplyView(reply, ReplyState.OPENED, text))
    if submission_fingerprint is not None and opened:
        current = notes.reader_recipients(db, submission_fingerprint)
        resealing.reseal_opened(db, keyring, actor, opened, current)
    shown = sum(1 for view in views if view.state is ReplyState.OPENED)
    if shown:
        audit.record(db, actor, "replies_read", "source", source.uuid, detail={"opened": shown})
    return views


def reseal_pending_copies(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    session_key_passphrase: str,
    submission_fingerprint: str,
    *,
    limit: int = notes.RESEAL_BATCH,
) -> int:
    """Re-seal up to `limit` team copies (oldest first; at most `limit` decryptions) that
    `actor` can open and whose recipients are not the current readers, of replies and
    sources not being deleted; recorded with their audit events. Only a current reader
    re-seals. Returns how many were re-sealed."""
    mine = resealing.account_fingerprint(db, actor)
    current = notes.reader_recipients(db, submission_fingerprint)
    if limit <= 0 or mine is None or not resealing.is_reader(mine, current):
        return 0
    stale = (
        select(ReplyCopy)
        .join(Reply, Reply.id == ReplyCopy.reply_id)
        .join(Source, Source.id == Reply.source_id)
        .where(
            Reply.deleted_at.is_(None),
            Source.deleted_at.is_(None),
            ReplyCopy.recipients.is_distinct_from(canonical_recipients(current)),
            resealing.sealed_to(ReplyCopy.recipients, mine),
        )
        .order_by(ReplyCopy.id)
    )
    return resealing.reseal_stale(
        db, keyring, actor, stale, lambda _row: current, mine, session_key_passphrase, limit
    )
