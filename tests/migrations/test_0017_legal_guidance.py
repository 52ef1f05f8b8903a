"""0017: legal advisers and the sealed legal guidance tables, both ways."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade

# The revision 0017 follows, whichever it is once merged.
_BEFORE = "0017-1"
_REVIEWERS = sa.table(
    "reviewers",
    *(sa.column(c) for c in ("id", "uuid", "username", "passphrase_hash")),
    *(sa.column(c) for c in ("otp_secret_sealed", "last_totp_step", "role", "is_active")),
    sa.column("created_at", UTCDateTime()),
)


def test_0017_adds_guidance_and_names_no_adviser(database_url: str) -> None:
    """Every existing account starts as no legal adviser (an admin names them); the
    downgrade removes the flag and both tables and keeps the accounts."""
    upgrade(database_url, _BEFORE)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            _REVIEWERS.insert().values(
                id=1,
                uuid="r" * 36,
                username="analyst1",
                passphrase_hash="x",
                otp_secret_sealed="v1:y",
                last_totp_step=0,
                role="ANALYST",
                is_active=True,
                created_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC),
            )
        )
    assert "guidance_questions" not in inspect(engine).get_table_names()

    upgrade(database_url, "0017")
    tables = set(inspect(engine).get_table_names())
    assert {"guidance_questions", "guidance_answers"} <= tables
    with engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT legal_adviser FROM reviewers")).scalar_one()

    downgrade(database_url, _BEFORE)
    tables = set(inspect(engine).get_table_names())
    assert not {"guidance_questions", "guidance_answers"} & tables
    assert "legal_adviser" not in {c["name"] for c in inspect(engine).get_columns("reviewers")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT username FROM reviewers")).scalar_one() == "analyst1"
    with engine.begin() as conn:  # 0014's downgrade would need the column key for it
        conn.execute(sa.text("DELETE FROM reviewers"))
    downgrade(database_url, "base")
    engine.dispose()
