"""keyring per process: account keys keep their public half; keys retired per home

`account_keys.public_key` (armored, NULL for keys made before) lets the source interface
import an account's public key into its own GnuPG home; `retired_keys` lists keys each
process removes from its home (vault.services.key_retirement).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_keys") as batch:
        batch.add_column(sa.Column("public_key", sa.Text(), nullable=True))
    op.create_table(
        "retired_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retired_keys")),
        sa.UniqueConstraint("fingerprint", "side", name=op.f("uq_retired_keys_fingerprint")),
    )
    op.create_index(op.f("ix_retired_keys_side"), "retired_keys", ["side"])


def downgrade() -> None:
    op.drop_index(op.f("ix_retired_keys_side"), table_name="retired_keys")
    op.drop_table("retired_keys")
    with op.batch_alter_table("account_keys") as batch:
        batch.drop_column("public_key")
