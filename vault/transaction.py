"""The caller owns the transaction: services add to a session, the caller commits once.

A request commits when it answers below 400 (web_shared.context); a `backupctl` command
or a background job runs inside `unit_of_work`. What a service does outside the database
follows the transaction through three hooks kept on the session:

- `on_rollback`: undo something written before the commit (a sealed file, a gpg key)
  should the transaction roll back or the session close without committing;
- `after_commit`: do something only once the rows are committed (queue a job that must
  find them, prune files the committed rows replace);
- `keep_refusal`: an audit event that outlives a failing transaction (a refused access,
  a failed login). It joins the work if the transaction commits; if it rolls back, the
  event is written and committed on its own afterwards (`finish`).

A step that may fail without failing its caller (best-effort work after a login, the
care copy of a submission) runs in a `savepoint`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

__all__ = [
    "AfterCommitError",
    "after_commit",
    "finish",
    "keep_refusal",
    "on_rollback",
    "savepoint",
    "unit_of_work",
]

_HOOKS = "backup.transaction_hooks"
_REFUSALS = "backup.refusals"

log = logging.getLogger(__name__)


class AfterCommitError(Exception):
    """An `after_commit` action failed; the transaction itself is committed."""


@dataclass
class _Hooks:
    undo: list[Callable[[], object]] = field(default_factory=list)
    then: list[Callable[[], object]] = field(default_factory=list)
    committed: bool = False


def _hooks(db: Session, transaction: SessionTransaction | None = None) -> _Hooks:
    """The hooks of `transaction`, by default the innermost one (a savepoint, if open)."""
    if transaction is None:
        transaction = db.get_nested_transaction() or db.get_transaction()
        if transaction is None:
            transaction = db.begin()  # the hooks belong to the transaction about to run
    table: dict[SessionTransaction, _Hooks] = db.info.setdefault(_HOOKS, {})
    return table.setdefault(transaction, _Hooks())


def on_rollback(db: Session, undo: Callable[[], object]) -> None:
    """Run `undo` if the current transaction (or savepoint) does not commit: it rolls
    back, or the session closes without committing."""
    _hooks(db).undo.append(undo)


def after_commit(db: Session, then: Callable[[], object]) -> None:
    """Run `then` once the whole transaction has committed (never if it, or the savepoint
    it was registered in, rolls back). It runs after the commit, the session idle; if it
    raises, the commit call raises AfterCommitError (the rows stay committed)."""
    _hooks(db).then.append(then)


def keep_refusal(db: Session, write: Callable[[Session], object]) -> None:
    """Keep an audit event even if the transaction rolls back (see `finish`).

    `write(db)` adds the event; it is called once, in whichever transaction commits.
    """
    db.info.setdefault(_REFUSALS, []).append(write)


def finish(db: Session, *, success: bool) -> None:
    """End the caller's transaction: commit on success, else roll back; the kept
    refusals are committed either way (with the work, or alone after the rollback)."""
    refusals: list[Callable[[Session], object]] = db.info.pop(_REFUSALS, [])
    if success:
        try:
            for write in refusals:
                write(db)
            db.commit()
            return
        except AfterCommitError:
            raise  # committed, refusals included
        except BaseException:
            db.rollback()
            _commit_alone(db, refusals)
            raise
    db.rollback()
    _commit_alone(db, refusals)


def _commit_alone(db: Session, refusals: list[Callable[[Session], object]]) -> None:
    if not refusals:
        return
    try:
        for write in refusals:
            write(db)
        db.commit()
    except BaseException:
        db.rollback()
        raise


@contextmanager
def savepoint(db: Session) -> Iterator[SessionTransaction]:
    """A SAVEPOINT in the caller's transaction: what fails inside it is undone alone.

    SQLite (through the sqlite3 module) opens a transaction only at the first write, and
    a SAVEPOINT opened before it would be the transaction itself: releasing it would
    commit. The caller's transaction is begun first, so it stays the caller's.
    """
    connection = db.connection()
    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and not getattr(raw, "in_transaction", True):
        connection.exec_driver_sql("BEGIN")
    with db.begin_nested() as nested:
        yield nested


@contextmanager
def unit_of_work(db: Session) -> Iterator[Session]:
    """One transaction for a command or a job: committed if the block ends normally,
    rolled back if it raises (kept refusals are committed either way)."""
    try:
        yield db
    except BaseException:
        finish(db, success=False)
        raise
    finish(db, success=True)


@event.listens_for(Session, "after_commit")
def _committed(db: Session) -> None:
    transaction = db.get_nested_transaction() or db.get_transaction()
    table: dict[SessionTransaction, _Hooks] = db.info.get(_HOOKS, {})
    if transaction is not None and transaction in table:
        table[transaction].committed = True


@event.listens_for(Session, "after_transaction_end")
def _ended(db: Session, transaction: SessionTransaction) -> None:
    table: dict[SessionTransaction, _Hooks] = db.info.get(_HOOKS, {})
    hooks = table.pop(transaction, None)
    if hooks is None:
        return
    if not hooks.committed:
        for undo in reversed(hooks.undo):
            try:
                undo()
            except Exception as exc:  # one failed undo must not stop the others
                log.error("undo after rollback failed: %s", type(exc).__name__)
        return
    if transaction.parent is not None:  # a savepoint released: its parent decides now
        parent = _hooks(db, transaction.parent)
        parent.undo += hooks.undo
        parent.then += hooks.then
        return
    failed: Exception | None = None
    for then in hooks.then:
        try:
            then()
        except Exception as exc:  # the others still run; the first failure is raised
            failed = failed or exc
    if failed is not None:
        raise AfterCommitError(type(failed).__name__) from failed
