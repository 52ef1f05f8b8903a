"""0011: replies sent before it keep no team copy and an unknown sealer."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade


def test_0011_adds_team_copies_and_keeps_existing_replies(database_url: str) -> None:
    """0011 adds an empty `reply_copies` and a nullable `replies.sealed_by` (NULL for the
    replies from before: "sealed before team copies existed"); the downgrade drops both
    and keeps the replies."""
    upgrade(database_url, "0010")
    engine = make_engine(database_url)
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    sources = sa.table(
        "sources",
        *(sa.column(c) for c in ("id", "uuid", "lookup_id", "designation")),
        *(sa.column(c) for c in ("reply_key_fingerprint", "interaction_count")),
        *(sa.column(c) for c in ("pending", "starred")),
        sa.column("created_at", UTCDateTime()),
        sa.column("last_updated", UTCDateTime()),
    )
    replies = sa.table(
        "replies",
        *(sa.column(c) for c in ("id", "uuid", "source_id", "filename", "size", "sha256")),
        sa.column("deleted_by_source"),
        sa.column("created_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            sources.insert().values(
                id=1,
                uuid="s" * 36,
                lookup_id="l" * 64,
                designation="sober moth",
                reply_key_fingerprint="F" * 40,
                interaction_count=1,
                pending=False,
                starred=False,
                created_at=at,
                last_updated=at,
            )
        )
        conn.execute(
            replies.insert().values(
                id=1,
                uuid="r" * 36,
                source_id=1,
                filename="1-sober-moth-reply.gpg",
                size=7,
                sha256="0" * 64,
                deleted_by_source=False,
                created_at=at,
            )
        )

    upgrade(database_url, "0011")
    column = {c["name"]: c for c in inspect(engine).get_columns("replies")}["sealed_by"]
    assert column["nullable"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sealed_by FROM replies")).scalar_one() is None
        assert conn.execute(sa.text("SELECT count(*) FROM reply_copies")).scalar_one() == 0

    downgrade(database_url, "0010")
    assert "sealed_by" not in {c["name"] for c in inspect(engine).get_columns("replies")}
    assert "reply_copies" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT uuid FROM replies")).scalar_one() == "r" * 36
    downgrade(database_url, "base")
    engine.dispose()
