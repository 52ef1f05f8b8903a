"""vault.transaction: the caller's transaction and what follows it (undo on rollback,
actions after the commit, refusals kept, savepoints), on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from vault.db import make_engine
from vault.transaction import (
    AfterCommitError,
    after_commit,
    finish,
    keep_refusal,
    on_rollback,
    savepoint,
    unit_of_work,
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE item (name TEXT)"))
    yield engine
    engine.dispose()


def _names(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return list(db.scalars(text("SELECT name FROM item ORDER BY rowid")))


def _add(db: Session, name: str) -> None:
    db.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})


def test_a_unit_of_work_commits_once_or_not_at_all(engine: Engine) -> None:
    with Session(engine) as db, unit_of_work(db):
        _add(db, "kept")
    with pytest.raises(RuntimeError), Session(engine) as db, unit_of_work(db):
        _add(db, "half")
        raise RuntimeError("the command failed after a change")
    assert _names(engine) == ["kept"]


def test_undo_runs_only_without_the_commit(engine: Engine) -> None:
    done: list[str] = []
    with Session(engine) as db:
        _add(db, "a")
        on_rollback(db, lambda: done.append("undo a"))
        after_commit(db, lambda: done.append("after a"))
        db.commit()
        assert done == ["after a"]
        _add(db, "b")
        on_rollback(db, lambda: done.append("undo b"))
        after_commit(db, lambda: done.append("after b"))
        db.rollback()
        assert done == ["after a", "undo b"]
        _add(db, "c")
        on_rollback(db, lambda: done.append("undo c"))
    # Closed without a commit: the same as a rollback.
    assert done == ["after a", "undo b", "undo c"]
    assert _names(engine) == ["a"]


def test_a_refusal_outlives_the_rollback(engine: Engine) -> None:
    with pytest.raises(PermissionError), Session(engine) as db, unit_of_work(db):
        _add(db, "work")
        keep_refusal(db, lambda session: _add(session, "refusal"))
        raise PermissionError("refused")
    assert _names(engine) == ["refusal"]
    with Session(engine) as db:
        keep_refusal(db, lambda session: _add(session, "refusal 2"))
        _add(db, "work 2")
        finish(db, success=True)  # a caller that went on: both commit together
    assert _names(engine) == ["refusal", "work 2", "refusal 2"]


def test_a_savepoint_undoes_its_own_work_only(engine: Engine) -> None:
    done: list[str] = []
    with Session(engine) as db:
        db.execute(text("SELECT 1"))  # nothing written yet: SQLite has no transaction
        with pytest.raises(ValueError), savepoint(db):
            _add(db, "inside")
            on_rollback(db, lambda: done.append("undo inside"))
            after_commit(db, lambda: done.append("after inside"))
            raise ValueError("best effort failed")
        assert done == ["undo inside"]
        with savepoint(db):
            _add(db, "released")
            on_rollback(db, lambda: done.append("undo released"))
        db.rollback()  # the released savepoint belongs to the caller's transaction
    assert _names(engine) == []
    assert done == ["undo inside", "undo released"]


def test_an_after_commit_failure_is_raised_once_committed(engine: Engine) -> None:
    def fail() -> None:
        raise OSError("the queue is down")

    ran: list[str] = []
    with Session(engine) as db:
        _add(db, "stored")
        after_commit(db, fail)
        after_commit(db, lambda: ran.append("still ran"))
        with pytest.raises(AfterCommitError) as raised:
            db.commit()
        assert isinstance(raised.value.__cause__, OSError)
        assert ran == ["still ran"]
        _add(db, "the session is usable")
        db.commit()
    assert _names(engine) == ["stored", "the session is usable"]


def test_a_refusal_is_written_once_when_an_after_commit_action_fails(engine: Engine) -> None:
    def fail() -> None:
        raise OSError("the queue is down")

    with Session(engine) as db:
        _add(db, "work")
        keep_refusal(db, lambda session: _add(session, "refusal"))
        after_commit(db, fail)
        with pytest.raises(AfterCommitError):
            finish(db, success=True)
    assert _names(engine) == ["work", "refusal"]
