"""SQLite sessions read the database file through a memory mapping (vault.db): each
session's fresh connection starts with an empty page cache, and mapped pages are not
copied by a read() each."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from vault.db import SQLITE_MMAP_SIZE, make_engine, make_session_factory


def _mapped(path: Path) -> bool:
    return any(line.rstrip().endswith(str(path)) for line in Path("/proc/self/maps").open())


def test_a_session_reads_the_file_through_a_mapping_and_sees_other_writers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mapped.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    try:
        with factory() as db:
            db.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
            db.execute(text("INSERT INTO notes (body) VALUES ('first')"))
            db.commit()
        assert not _mapped(path), "no session open: nothing holds the file"
        with factory() as reader:
            assert reader.scalar(text("PRAGMA mmap_size")) == SQLITE_MMAP_SIZE
            assert reader.scalars(text("SELECT body FROM notes")).all() == ["first"]
            assert _mapped(path), "the read did not go through a mapping"
            # A write through another connection (write(), then the WAL) is seen by the
            # next read of a mapped connection: the mapping is the file's page cache.
            with factory() as writer:
                writer.execute(text("INSERT INTO notes (body) VALUES ('second')"))
                writer.commit()
            reader.rollback()
            assert reader.scalars(text("SELECT body FROM notes ORDER BY id")).all() == [
                "first",
                "second",
            ]
        assert not _mapped(path), "the mapping outlived its session"
    finally:
        engine.dispose()
