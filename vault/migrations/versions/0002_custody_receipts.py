"""custody receipts: the signed, hash-chained log of everything received and sent

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_uuid", sa.String(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_manifest", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_receipts")),
        sa.UniqueConstraint("seq", name=op.f("uq_custody_receipts_seq")),
        sa.UniqueConstraint("hash", name=op.f("uq_custody_receipts_hash")),
    )
    op.create_index(
        op.f("ix_custody_receipts_object_uuid"), "custody_receipts", ["object_uuid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_custody_receipts_object_uuid"), table_name="custody_receipts")
    op.drop_table("custody_receipts")
