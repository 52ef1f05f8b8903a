"""0016: the legal-hold table, added over existing cases and dropped again."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade

_AT = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
_CASES = sa.table(
    "cases",
    *(sa.column(c) for c in ("id", "uuid", "reference", "status", "priority")),
    sa.column("urgent_medical"),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_HOLDS = sa.table(
    "case_legal_holds",
    *(sa.column(c) for c in ("case_id", "set_by_id", "reason_sealed")),
    sa.column("set_at", UTCDateTime()),
)


def test_0016_adds_legal_holds_and_downgrades(database_url: str) -> None:
    upgrade(database_url, "0015")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            _CASES.insert().values(
                id=1,
                uuid="c" * 36,
                reference="BU-2026-0001",
                status="CLOSED",
                priority="NORMAL",
                urgent_medical=False,
                created_at=_AT,
                updated_at=_AT,
            )
        )
    assert "case_legal_holds" not in inspect(engine).get_table_names()

    upgrade(database_url, "0016")
    columns = {c["name"]: c for c in inspect(engine).get_columns("case_legal_holds")}
    assert set(columns) == {"case_id", "set_by_id", "set_at", "reason_sealed"}
    assert columns["set_by_id"]["nullable"] and not columns["reason_sealed"]["nullable"]
    with engine.begin() as conn:
        conn.execute(
            _HOLDS.insert().values(case_id=1, set_by_id=None, reason_sealed="v1:x", set_at=_AT)
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(_HOLDS)).scalar() == 1

    downgrade(database_url, "0015")
    inspector = inspect(engine)
    assert "case_legal_holds" not in inspector.get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT reference FROM cases")).scalar() == "BU-2026-0001"
    engine.dispose()
