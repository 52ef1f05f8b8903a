"""case transfers: a referred case sent to, or received from, a peer instance

`case_transfers` keeps, per transfer and direction, the transfer's random uuid, the
peer, the case here, how many items and the envelope id (docs/federation.md).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_uuid", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("envelope_id", sa.String(length=32), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_case_transfers_peer_id_federation_peers"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_transfers_case_id_cases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transfers")),
        sa.UniqueConstraint("direction", "transfer_uuid", name=op.f("uq_case_transfers_direction")),
    )
    op.create_index(op.f("ix_case_transfers_peer_id"), "case_transfers", ["peer_id"])
    op.create_index(op.f("ix_case_transfers_case_id"), "case_transfers", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_transfers_case_id"), table_name="case_transfers")
    op.drop_index(op.f("ix_case_transfers_peer_id"), table_name="case_transfers")
    op.drop_table("case_transfers")
