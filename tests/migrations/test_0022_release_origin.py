"""0022: observatory releases get a nullable `origin` (another organisation's release);
releases imported before keep theirs as own releases (NULL), both ways."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade

_AT = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
_COLUMNS = {
    "id": 1,
    "uuid": "r" * 36,
    "created": "2026-12-06T00:00:00Z",
    "method_k": 5,
    "dimensions": "period,region",
    "countries": "CD",
    "first_month": "2025-01",
    "last_month": "2025-06",
    "period_unit": "month",
    "records": 12,
    "records_noisy": False,
    "suppressed_primary": 0,
    "suppressed_complementary": 0,
    "entries": 4,
    "signer_fingerprint": "F" * 40,
    "document": b"{}",
    "signature": b"sig",
}


def test_0022_adds_a_nullable_origin_and_keeps_releases(database_url: str) -> None:
    upgrade(database_url, "0021")
    engine = make_engine(database_url)
    releases = sa.table(
        "observatory_releases",
        *(sa.column(name) for name in _COLUMNS),
        sa.column("imported_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(releases.insert().values(**_COLUMNS, imported_at=_AT))

    upgrade(database_url, "0022")
    column = {c["name"]: c for c in inspect(engine).get_columns("observatory_releases")}["origin"]
    assert column["nullable"]
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT uuid, origin FROM observatory_releases")).one()
        assert tuple(row) == ("r" * 36, None)
        conn.execute(sa.text("UPDATE observatory_releases SET origin = 'org-b' WHERE id = 1"))

    downgrade(database_url, "0021")
    names = {c["name"] for c in inspect(engine).get_columns("observatory_releases")}
    assert "origin" not in names
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT records FROM observatory_releases")).scalar() == 12
    engine.dispose()
