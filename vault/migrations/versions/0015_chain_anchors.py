"""chain anchors: RFC 3161 time-stamps of the custody and audit chains' heads

`chain_anchors` keeps each time-stamp response (DER) with the chain, position and hash
it covers, and the authority that gave it (vault.services.anchors).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_anchors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("tsa", sa.String(length=64), nullable=False),
        sa.Column("gen_time", UTCDateTime(timezone=True), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_anchors")),
        sa.UniqueConstraint("chain", "seq", "tsa", name=op.f("uq_chain_anchors_chain")),
    )


def downgrade() -> None:
    op.drop_table("chain_anchors")
