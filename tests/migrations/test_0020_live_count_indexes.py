"""0020: partial indexes on live submissions (by source and kind) and live replies (by
source), both ways, keeping the rows; the counts use them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import make_engine
from vault.migrate import downgrade, upgrade


def _indexes(engine: sa.Engine, table: str) -> dict[str, list[str | None]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes(table)}


def _plan(engine: sa.Engine, sql: str) -> str:
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql(explain + sql))


def test_0020_indexes_live_rows_for_the_counts_and_downgrades(database_url: str) -> None:
    upgrade(database_url, "0019")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sources (id, uuid, lookup_id, designation, reply_key_fingerprint,"
                " interaction_count, pending, starred, created_at, last_updated)"
                " VALUES (1, :uuid, 'l', 'd', 'f', 0, false, false, :at, :at)"
            ),
            {"uuid": "a" * 36, "at": "2026-12-06 00:00:00"},
        )
        conn.execute(
            sa.text(
                "INSERT INTO submissions (id, uuid, source_id, kind, filename, size, sha256,"
                " downloaded, created_at) VALUES (1, :uuid, 1, 'FILE', 'f.gpg', 1, 's', false,"
                " :at)"
            ),
            {"uuid": "b" * 36, "at": "2026-12-06 00:00:00"},
        )
    upgrade(database_url, "0020")
    assert _indexes(engine, "submissions")["ix_submissions_live_source_kind"] == [
        "source_id",
        "kind",
    ]
    assert _indexes(engine, "replies")["ix_replies_live_source"] == ["source_id"]
    counted = _plan(
        engine,
        "SELECT source_id, kind, count(*) FROM submissions WHERE deleted_at IS NULL"
        " AND source_id = 1 GROUP BY source_id, kind",
    )
    assert "ix_submissions_live_source_kind" in counted
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM submissions").scalar_one() == 1
    downgrade(database_url, "0019")
    assert "ix_submissions_live_source_kind" not in _indexes(engine, "submissions")
    assert "ix_replies_live_source" not in _indexes(engine, "replies")
    engine.dispose()
