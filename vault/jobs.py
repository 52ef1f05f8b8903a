"""RQ entry points. They receive ids, never objects, and open their own session.

The worker binds a Runtime once at start (`bind`); without one, a job builds it from
the environment, as `backupctl worker` does.
"""

from __future__ import annotations

import datetime as dt
import shutil
from typing import TypeVar

from sqlalchemy import select

from vault import notifications
from vault.config import load_config
from vault.models import Reply, Source, Submission
from vault.runtime import Runtime, build_runtime
from vault.services.source_consent import state_name

_runtime: Runtime | None = None


def bind(runtime: Runtime) -> None:
    """Give this worker process its Runtime (the worker is its own process)."""
    global _runtime
    _runtime = runtime


def _rt() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(load_config())
    return _runtime


_Stored = TypeVar("_Stored", Submission, Reply)


def _delete_stored(model: type[_Stored], item_uuid: str) -> bool:
    """Shred one sealed file, then remove its row; False if it was already gone."""
    rt = _rt()
    with rt.session() as db:
        item = db.scalar(select(model).where(model.uuid == item_uuid))
        if item is None:
            return False
        rt.store.shred(rt.store.path_of(item.source.uuid, item.filename))
        if isinstance(item, Submission):  # the source's own view of its consent, if any
            rt.store.shred(rt.store.path_of(item.source.uuid, state_name(item.filename)))
        db.delete(item)
    return True


def delete_submission(submission_uuid: str) -> bool:
    return _delete_stored(Submission, submission_uuid)


def delete_reply(reply_uuid: str) -> bool:
    return _delete_stored(Reply, reply_uuid)


def delete_source(source_uuid: str) -> bool:
    """Shred every file of a source, its reply key, then its rows."""
    rt = _rt()
    with rt.session() as db:
        source = db.scalar(select(Source).where(Source.uuid == source_uuid))
        if source is None:
            return False
        directory = rt.store.source_dir(source.uuid)
        if directory.exists():
            for path in sorted(directory.iterdir()):
                if path.is_file():
                    rt.store.shred(path)
            shutil.rmtree(directory, ignore_errors=True)
        rt.keyring.delete_key(source.reply_key_fingerprint)
        db.delete(source)
    return True


def sweep_store(older_than_seconds: int = 3600) -> int:
    """Shred what crashed requests left in the store (partials, files with no row)."""
    rt = _rt()
    with rt.session() as db:
        submissions = db.execute(select(Source.uuid, Submission.filename).join(Submission.source))
        known = []
        for uuid, name in submissions:
            known.append(rt.store.path_of(uuid, name))
            # A consent state counts while the submission it accompanies does.
            known.append(rt.store.path_of(uuid, state_name(name)))
        known += [
            rt.store.path_of(uuid, name)
            for uuid, name in db.execute(select(Source.uuid, Reply.filename).join(Reply.source))
        ]
    return len(rt.store.sweep(known, dt.timedelta(seconds=older_than_seconds)))


def notify_care(channel: str, event: str, token: str) -> str:
    """One care notification through one channel (vault.notifications.deliver)."""
    rt = _rt()
    return notifications.deliver(rt.redis, rt.config, channel, event, token)
