"""sealed columns: TOTP secrets and partner details encrypted with the instance's key

`reviewers.otp_secret` (base32 in clear) becomes `reviewers.otp_secret_sealed`, and
`partner_orgs.regions`, `languages` and `contact` become one `partner_orgs.details_sealed`
(their JSON, NULL when all three are empty): sealed with AES-256-GCM under the column key
in the instance directory (`column.key`, made here if missing), bound to the row's uuid
and the column's purpose (vault.column_key). A database dump or backup alone then yields
neither. The downgrade opens them back into the clear columns (with the same key file).
Reviewers' sessions end once at the upgrade (their credential stamp covers the sealed
form), so everyone logs in again.

The key file comes from the caller (`vault.migrate.upgrade(..., column_key_file=...)`:
`backupctl db upgrade` and `backupctl run` pass the instance's). Rows to convert and no
key file given: refused before any change, so the upgrade can be run again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

from vault.column_key import PARTNER_DETAILS, TOTP_SECRET, ColumnKey
from vault.errors import ConfigError
from vault.migrate import COLUMN_KEY_FILE_ATTRIBUTE

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_OTP_SEALED_MAX = 128
_OTP_CLEAR_MAX = 64
# The clear partner columns and their lengths, as 0003 made them.
_DETAILS = {"regions": 255, "languages": 128, "contact": 500}


def _key() -> ColumnKey:
    path = context.config.attributes.get(COLUMN_KEY_FILE_ATTRIBUTE)
    if not isinstance(path, Path):
        raise ConfigError(
            "migration 0014 seals (downgrade: opens) TOTP secrets and partner details: run "
            "it through `backupctl db upgrade`, which knows the instance's column key file"
        )
    return ColumnKey.load_or_generate(path)


def _rows(table: str, *columns: str) -> list[sa.Row[tuple[object, ...]]]:
    t = sa.table(table, sa.column("id"), sa.column("uuid"), *(sa.column(c) for c in columns))
    return list(op.get_bind().execute(sa.select(t.c.id, t.c.uuid, *(t.c[c] for c in columns))))


def _write(table: str, row_id: object, values: dict[str, object]) -> None:
    t = sa.table(table, sa.column("id"), *(sa.column(c) for c in values))
    op.get_bind().execute(t.update().where(t.c.id == row_id).values(values))


def _seal_details(key: ColumnKey, row_uuid: str, values: dict[str, str]) -> str | None:
    if not any(values.values()):
        return None
    plain = json.dumps(values, sort_keys=True, ensure_ascii=False)
    return key.seal(plain, PARTNER_DETAILS, row_uuid)


def upgrade() -> None:
    reviewers = _rows("reviewers", "otp_secret")
    orgs = _rows("partner_orgs", *_DETAILS)
    key = _key() if reviewers or orgs else None  # before any change: a refusal leaves all
    with op.batch_alter_table("reviewers") as batch:
        batch.add_column(sa.Column("otp_secret_sealed", sa.String(_OTP_SEALED_MAX)))
    with op.batch_alter_table("partner_orgs") as batch:
        batch.add_column(sa.Column("details_sealed", sa.Text(), nullable=True))
    if key is not None:
        for row_id, row_uuid, secret in reviewers:
            sealed = key.seal(secret, TOTP_SECRET, row_uuid)
            _write("reviewers", row_id, {"otp_secret_sealed": sealed})
        for row_id, row_uuid, *clear in orgs:
            values = {name: value or "" for name, value in zip(_DETAILS, clear, strict=True)}
            _write("partner_orgs", row_id, {"details_sealed": _seal_details(key, row_uuid, values)})
    with op.batch_alter_table("reviewers") as batch:
        batch.alter_column(
            "otp_secret_sealed", existing_type=sa.String(_OTP_SEALED_MAX), nullable=False
        )
        batch.drop_column("otp_secret")
    with op.batch_alter_table("partner_orgs") as batch:
        for name in _DETAILS:
            batch.drop_column(name)


def downgrade() -> None:
    reviewers = _rows("reviewers", "otp_secret_sealed")
    orgs = [row for row in _rows("partner_orgs", "details_sealed") if row[2] is not None]
    key = _key() if reviewers or orgs else None
    with op.batch_alter_table("reviewers") as batch:
        batch.add_column(sa.Column("otp_secret", sa.String(_OTP_CLEAR_MAX)))
    with op.batch_alter_table("partner_orgs") as batch:
        for name, length in _DETAILS.items():
            batch.add_column(
                sa.Column(name, sa.String(length), nullable=False, server_default="")
            )
    if key is not None:
        for row_id, row_uuid, sealed in reviewers:
            _write("reviewers", row_id, {"otp_secret": key.open(sealed, TOTP_SECRET, row_uuid)})
        for row_id, row_uuid, sealed in orgs:
            values = json.loads(key.open(sealed, PARTNER_DETAILS, row_uuid))
            _write("partner_orgs", row_id, {name: values[name] for name in _DETAILS})
    with op.batch_alter_table("reviewers") as batch:
        batch.alter_column("otp_secret", existing_type=sa.String(_OTP_CLEAR_MAX), nullable=False)
        batch.drop_column("otp_secret_sealed")
    with op.batch_alter_table("partner_orgs") as batch:
        for name, length in _DETAILS.items():
            batch.alter_column(name, existing_type=sa.String(length), server_default=None)
        batch.drop_column("details_sealed")
