"""reply secret keys: a source's reply key in the database, for every backend

`sources.reply_secret_key`: the reply key's secret half as gpg exports it, still locked
by the codename-derived passphrase, then sealed (AES-256-GCM, bound to the row's uuid)
with a key derived from the source interface's secrets (vault.services.reply_keys).
NULL for a source recorded before this revision until it next opens its replies on the
server whose GnuPG home holds the key.

The downgrade refuses while a row holds one: keys made since exist nowhere else, and
dropping the column would make their replies unreadable for good.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("reply_secret_key", sa.Text(), nullable=True))


def downgrade() -> None:
    held = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM sources WHERE reply_secret_key IS NOT NULL")
    )
    if held:
        raise RuntimeError(
            f"{held} source(s) have their reply key only in the database: "
            "downgrading would make their replies unreadable"
        )
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("reply_secret_key")
