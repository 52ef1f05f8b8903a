"""0027: sources get a nullable `reply_secret_key`; sources recorded before keep their
row as it was (NULL: their key is moved there when they next read their replies where
it was made, tests/integration/cluster/test_reply_keys_everywhere.py). The downgrade
refuses while a row holds a key: it exists nowhere else."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade

_AT = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
_SOURCE = {
    "id": 1,
    "uuid": "s" * 36,
    "lookup_id": "l" * 64,
    "designation": "sober moth",
    "reply_key_fingerprint": "A" * 40,
    "reply_public_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    "interaction_count": 1,
    "pending": False,
    "starred": False,
}
_BEFORE = "0025"  # the revision 0027 follows


def _sources() -> sa.TableClause:
    return sa.table(
        "sources",
        *(sa.column(name) for name in _SOURCE),
        sa.column("created_at", UTCDateTime()),
        sa.column("last_updated", UTCDateTime()),
    )


def test_0027_adds_a_nullable_secret_key_and_keeps_sources(database_url: str) -> None:
    upgrade(database_url, _BEFORE)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(_sources().insert().values(**_SOURCE, created_at=_AT, last_updated=_AT))

    upgrade(database_url, "0027")
    column = {c["name"]: c for c in inspect(engine).get_columns("sources")}["reply_secret_key"]
    assert column["nullable"]
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT uuid, reply_key_fingerprint, reply_secret_key FROM sources")
        ).one()
    assert tuple(row) == ("s" * 36, "A" * 40, None)

    # A key stored since: the downgrade refuses, and the row keeps it.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sources SET reply_secret_key = 'v1:sealed' WHERE id = 1"))
    with pytest.raises(RuntimeError, match="only in the database"):
        downgrade(database_url, _BEFORE)
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT reply_secret_key FROM sources")).scalar()
    assert kept == "v1:sealed"

    # None stored: the downgrade goes through, the source stays.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sources SET reply_secret_key = NULL"))
    downgrade(database_url, _BEFORE)
    names = {c["name"] for c in inspect(engine).get_columns("sources")}
    assert "reply_secret_key" not in names
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT designation FROM sources")).scalar() == "sober moth"
    engine.dispose()
