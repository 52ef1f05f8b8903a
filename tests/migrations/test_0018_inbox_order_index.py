"""0018: the sources' order index on (last_updated, id) replaces the one on
last_updated, both ways, keeping the rows."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import make_engine
from vault.migrate import downgrade, upgrade


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("sources")}


def _sources(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM sources")).scalar_one())


def test_0018_indexes_the_inbox_order_and_downgrades(database_url: str) -> None:
    upgrade(database_url, "0017")
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
    assert _indexes(engine)["ix_sources_last_updated"] == ["last_updated"]
    upgrade(database_url, "0018")
    indexes = _indexes(engine)
    assert indexes["ix_sources_last_updated_id"] == ["last_updated", "id"]
    assert "ix_sources_last_updated" not in indexes
    assert _sources(engine) == 1
    downgrade(database_url, "0017")
    indexes = _indexes(engine)
    assert indexes["ix_sources_last_updated"] == ["last_updated"]
    assert "ix_sources_last_updated_id" not in indexes
    assert _sources(engine) == 1
    engine.dispose()
