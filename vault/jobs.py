"""The background jobs. They receive ids, never objects, and open their own session.

Each takes first the parts it works with (`JobParts`, the process's Runtime) and then
what was queued. RQ queues them by these functions' dotted names (`vault.jobs.NAME`,
with the ids only): the worker's job class (`composition.jobs`) passes the Runtime the
composition root built for the worker, so no module here holds one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import notifications
from vault.config import Config
from vault.db import forget_deleted
from vault.models import Reply, Source, Submission
from vault.services import key_retirement
from vault.services.source_consent import state_name
from vault.store import Store


class JobParts(Protocol):
    """What the jobs use of a process's Runtime (`composition.runtime.Runtime`)."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def redis(self) -> Redis: ...

    def session(self) -> AbstractContextManager[Session]: ...


_Stored = TypeVar("_Stored", Submission, Reply)

_log = logging.getLogger(__name__)


def _delete_stored(rt: JobParts, model: type[_Stored], item_uuid: str) -> bool:
    """Shred one sealed file, then remove its row; False if it was already gone."""
    with rt.session() as db:
        item = db.scalar(select(model).where(model.uuid == item_uuid))
        if item is None:
            return False
        # Here and, with a shared copy, there too; other servers' cached copies have no
        # row left and go at their next sweep.
        rt.store.shred(rt.store.local_path(item.source.uuid, item.filename))
        if isinstance(item, Submission):  # the source's own view of its consent, if any
            rt.store.shred(rt.store.local_path(item.source.uuid, state_name(item.filename)))
        db.delete(item)
    forget_deleted(db)
    return True


def delete_submission(rt: JobParts, submission_uuid: str) -> bool:
    return _delete_stored(rt, Submission, submission_uuid)


def delete_reply(rt: JobParts, reply_uuid: str) -> bool:
    return _delete_stored(rt, Reply, reply_uuid)


def delete_source(rt: JobParts, source_uuid: str) -> bool:
    """Shred every file of a source, its reply key, then its rows."""
    with rt.session() as db:
        source = db.scalar(select(Source).where(Source.uuid == source_uuid))
        if source is None:
            return False
        rt.store.shred_source(source.uuid)
        # The row holds the key's secret half (vault.services.reply_keys): deleting it
        # deletes that. Copies are in homes this process may not write, on every server:
        # each owner removes its own.
        key_retirement.retire(db, source.reply_key_fingerprint)
        db.delete(source)
    forget_deleted(db)
    return True


def sweep_store(rt: JobParts, older_than_seconds: int = 3600) -> int:
    """Shred what crashed requests left in the store (partials, files with no row)."""
    with rt.session() as db:
        submissions = db.execute(select(Source.uuid, Submission.filename).join(Submission.source))
        known = []
        for uuid, name in submissions:
            known.append(rt.store.local_path(uuid, name))
            # A consent state counts while the submission it accompanies does.
            known.append(rt.store.local_path(uuid, state_name(name)))
        known += [
            rt.store.local_path(uuid, name)
            for uuid, name in db.execute(select(Source.uuid, Reply.filename).join(Reply.source))
        ]
    return len(rt.store.sweep(known, dt.timedelta(seconds=older_than_seconds)))


def prune_retired_keys(rt: JobParts) -> int:
    """Forget the key retirements every server's homes have had time to apply
    (vault.services.key_retirement.RETAIN); how many."""
    with rt.session() as db:
        return key_retirement.prune(db)


def finish_requested_deletions(rt: JobParts) -> int:
    """Carry out every deletion that was requested (rows hidden) but never done.

    The deletion jobs live in Redis, which keeps nothing on disk (docs/cluster.md): a
    Redis restarted, or a queue lost, drops them, and the rows would stay hidden but
    never shredded. The hidden rows are the record of what was asked, so the sweep does
    here what each lost job would have done. A job still queued that runs later finds
    its work done and does nothing; one that runs at the same moment makes one of the
    two fail on the row, and the next job retry or sweep finds it done. Sources first
    (with all their files), then what is left of single submissions and replies.
    Returns how many objects were removed; a failure is logged by class and left to the
    next sweep.
    """
    done = 0
    steps: tuple[tuple[type[Source | Submission | Reply], Callable[[JobParts, str], bool]], ...] = (
        (Source, delete_source),
        (Submission, delete_submission),
        (Reply, delete_reply),
    )
    for model, delete in steps:
        with rt.session() as db:
            pending = list(db.scalars(select(model.uuid).where(model.deleted_at.is_not(None))))
        for item_uuid in pending:
            try:
                done += delete(rt, item_uuid)
            except Exception as exc:  # one stuck object never stops the others
                _log.error("requested deletion not finished: %s", type(exc).__name__)
    return done


def notify_care(rt: JobParts, channel: str, event: str, token: str) -> str:
    """One care notification through one channel (vault.notifications.deliver)."""
    return notifications.deliver(rt.redis, rt.config, channel, event, token)


# What the worker runs, by the name RQ queues it under (deletion's and notifications'
# `enqueue` calls name these; jobs already queued keep working across upgrades).
JOBS: dict[str, Callable[..., object]] = {
    f"{__name__}.{job.__name__}": job
    for job in (delete_submission, delete_reply, delete_source, sweep_store, notify_care)
}
