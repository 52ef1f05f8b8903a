"""SQLite connections are kept between requests (vault.db.make_engine), on a real
database file: a kept connection still has every pragma, no thread ever waits for one
however many hold one at once (a slow upload stalls nobody), those beyond the kept
ones are closed when given back, and each sees what another committed."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.pool import QueuePool

from vault.db import SQLITE_IDLE_CONNECTIONS, make_engine
from vault.migrate import upgrade

PRAGMAS = {"foreign_keys": 1, "secure_delete": 1, "synchronous": 2, "journal_mode": "wal"}


def _engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'pool.sqlite'}"
    upgrade(url)
    return make_engine(url)


def test_a_kept_connection_keeps_its_pragmas_and_sees_others_commits(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        with engine.connect() as conn:
            first = conn.connection.dbapi_connection
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.connection.dbapi_connection is first  # the same one, kept
                for pragma, value in PRAGMAS.items():
                    assert conn.exec_driver_sql(f"PRAGMA {pragma}").scalar() == value
        with engine.connect() as reader, engine.connect() as writer:
            reader.execute(text("SELECT count(*) FROM reviewers")).scalar()
            reader.commit()
            writer.execute(
                text(
                    "INSERT INTO reviewers (uuid, username, passphrase_hash, otp_secret_sealed,"
                    " last_totp_step, role, is_active, created_at) VALUES"
                    " ('u1', 'pooled', 'x', 'x', 0, 'ANALYST', 1, '2026-01-01 00:00:00')"
                )
            )
            writer.commit()
            # The kept reader's page cache does not hide the other's commit.
            assert reader.execute(text("SELECT username FROM reviewers")).scalar() == "pooled"
    finally:
        engine.dispose()


def test_no_thread_waits_for_a_connection_and_extra_ones_are_closed(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    holders = 40  # more than QueuePool's default 5 + 10, and than the kept ones
    opened = threading.Barrier(holders + 1)
    release = threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
                opened.wait(timeout=60)
                release.wait(timeout=60)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(holders)]
    try:
        for thread in threads:
            thread.start()
        opened.wait(timeout=60)  # every thread holds its own connection at once
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == holders
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert pool.checkedin() == SQLITE_IDLE_CONNECTIONS  # the rest were closed
    engine.dispose()
