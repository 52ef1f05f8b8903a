"""0014: TOTP secrets and partner details sealed with the instance's column key, both
ways."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy import inspect

from tests.support.leaks import assert_no_leak
from vault.column_key import COLUMN_KEY_FILE, PARTNER_DETAILS, TOTP_SECRET, ColumnKey
from vault.db import UTCDateTime, make_engine
from vault.errors import ConfigError
from vault.migrate import downgrade, upgrade

_AT = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
_REVIEWERS = sa.table(
    "reviewers",
    *(sa.column(c) for c in ("id", "uuid", "username", "passphrase_hash", "otp_secret")),
    *(sa.column(c) for c in ("last_totp_step", "role", "is_active")),
    sa.column("created_at", UTCDateTime()),
)
_ORGS = sa.table(
    "partner_orgs",
    *(sa.column(c) for c in ("id", "uuid", "name", "services", "is_active")),
    *(sa.column(c) for c in ("regions", "languages", "contact")),
    sa.column("created_at", UTCDateTime()),
)
_DETAILS = {
    "regions": "Nord-Kivu, Rutshuru and Masisi",
    "languages": "Kinyarwanda, Kiswahili",
    "contact": "Mama Furaha, through the parish office",
}


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _seed(engine: sa.Engine) -> dict[str, str]:
    """Two reviewers (their clear secrets by uuid), an organisation with details and one
    without."""
    secrets = {f"{n}" * 36: pyotp.random_base32() for n in "ab"}
    with engine.begin() as conn:
        for row_id, (uuid, secret) in enumerate(secrets.items(), start=1):
            conn.execute(
                _REVIEWERS.insert().values(
                    id=row_id,
                    uuid=uuid,
                    username=f"analyst{row_id}",
                    passphrase_hash="x",
                    otp_secret=secret,
                    last_totp_step=0,
                    role="ANALYST",
                    is_active=True,
                    created_at=_AT,
                )
            )
        for row_id, details in ((1, _DETAILS), (2, dict.fromkeys(_DETAILS, ""))):
            conn.execute(
                _ORGS.insert().values(
                    id=row_id,
                    uuid=f"{row_id}" * 36,
                    name=f"Clinic {row_id}",
                    services="medical",
                    is_active=True,
                    created_at=_AT,
                    **details,
                )
            )
    return secrets


def test_0014_seals_existing_rows_and_downgrade_opens_them(
    database_url: str, tmp_path: Path
) -> None:
    """Existing TOTP secrets and partner details are sealed (bound to each row's uuid)
    and the clear columns are gone, so none is left in the database; the downgrade puts
    them back in clear."""
    key_file = tmp_path / "instance" / COLUMN_KEY_FILE
    upgrade(database_url, "0013")
    engine = make_engine(database_url)
    secrets = _seed(engine)

    upgrade(database_url, "0014", column_key_file=key_file)
    assert "otp_secret" not in _columns(engine, "reviewers")
    assert not set(_DETAILS) & _columns(engine, "partner_orgs")
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = ColumnKey.load(key_file)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT uuid, otp_secret_sealed FROM reviewers")).all()
        query = sa.text("SELECT name, details_sealed FROM partner_orgs")
        orgs = {name: sealed for name, sealed in conn.execute(query)}
    assert {uuid: key.open(sealed, TOTP_SECRET, uuid) for uuid, sealed in rows} == secrets
    assert orgs["Clinic 2"] is None  # nothing to seal
    opened = key.open(orgs["Clinic 1"], PARTNER_DETAILS, "1" * 36)
    assert json.loads(opened) == _DETAILS
    assert_no_leak((*secrets.values(), *_DETAILS.values()), engine=engine)

    downgrade(database_url, "0013", column_key_file=key_file)
    assert "otp_secret_sealed" not in _columns(engine, "reviewers")
    assert "details_sealed" not in _columns(engine, "partner_orgs")
    with engine.connect() as conn:
        clear = dict(conn.execute(sa.text("SELECT uuid, otp_secret FROM reviewers")).all())
        org_rows = conn.execute(
            sa.text("SELECT regions, languages, contact FROM partner_orgs ORDER BY id")
        ).all()
    assert clear == secrets
    assert [tuple(r) for r in org_rows] == [tuple(_DETAILS.values()), ("", "", "")]
    downgrade(database_url, "base")
    engine.dispose()


def test_0014_without_key_file_refuses_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    """Rows to seal and no key file given: refused before any change, so the tables are
    as they were and the upgrade can be run again with the key file."""
    upgrade(database_url, "0013")
    engine = make_engine(database_url)
    _seed(engine)
    with pytest.raises(ConfigError):
        upgrade(database_url, "0014")
    assert {"otp_secret", "otp_secret_sealed"} & _columns(engine, "reviewers") == {"otp_secret"}
    assert "details_sealed" not in _columns(engine, "partner_orgs")
    upgrade(database_url, "0014", column_key_file=tmp_path / COLUMN_KEY_FILE)
    assert "otp_secret_sealed" in _columns(engine, "reviewers")
    downgrade(database_url, "base", column_key_file=tmp_path / COLUMN_KEY_FILE)
    engine.dispose()
