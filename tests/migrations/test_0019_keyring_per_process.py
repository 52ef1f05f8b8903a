"""0019: account keys keep their public half (NULL for keys made before), and the
`retired_keys` table; both ways, existing account keys kept."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import inspect

from vault.db import UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade

_AT = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def test_0015_adds_public_halves_and_retired_keys(database_url: str) -> None:
    upgrade(database_url, "0018")
    engine = make_engine(database_url)
    reviewers = sa.table(
        "reviewers",
        *(sa.column(c) for c in ("id", "uuid", "username", "passphrase_hash", "otp_secret_sealed")),
        *(sa.column(c) for c in ("last_totp_step", "role", "is_active")),
        sa.column("created_at", UTCDateTime()),
    )
    keys = sa.table(
        "account_keys",
        *(sa.column(c) for c in ("reviewer_id", "fingerprint", "salt")),
        sa.column("created_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            reviewers.insert().values(
                id=1,
                uuid="a" * 36,
                username="analyst1",
                passphrase_hash="x",
                otp_secret_sealed="v1:sealed",
                last_totp_step=0,
                role="ANALYST",
                is_active=True,
                created_at=_AT,
            )
        )
        conn.execute(
            keys.insert().values(reviewer_id=1, fingerprint="F" * 40, salt="0" * 64, created_at=_AT)
        )

    upgrade(database_url, "0019")
    column = {c["name"]: c for c in inspect(engine).get_columns("account_keys")}["public_key"]
    assert column["nullable"]
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT fingerprint, public_key FROM account_keys")).one()
        assert tuple(row) == ("F" * 40, None)
        retired = sa.table(
            "retired_keys",
            sa.column("fingerprint"),
            sa.column("side"),
            sa.column("created_at", UTCDateTime()),
        )
        conn.execute(retired.insert().values(fingerprint="F" * 40, side="source", created_at=_AT))

    downgrade(database_url, "0018")
    assert "retired_keys" not in inspect(engine).get_table_names()
    assert "public_key" not in {c["name"] for c in inspect(engine).get_columns("account_keys")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT fingerprint FROM account_keys")).scalar() == "F" * 40
    engine.dispose()
