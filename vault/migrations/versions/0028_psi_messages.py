"""psi_messages, and incoming envelope ids dropped once expired

`psi_messages`: the private-set-intersection requests and responses carried between
our air-gapped workstation and a peer's as envelopes (docs/observatory.md). And
`federation_exchanges.envelope_id` becomes nullable: the id of an incoming envelope
older than its accepted window is dropped, the row kept (docs/federation.md).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("federation_exchanges") as batch:
        batch.alter_column("envelope_id", existing_type=sa.String(length=32), nullable=True)
    op.create_table(
        "psi_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("envelope_id", sa.String(length=32), nullable=True),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_psi_messages_peer_id_federation_peers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psi_messages")),
        sa.UniqueConstraint(
            "direction", "peer_id", "message_id", name=op.f("uq_psi_messages_direction")
        ),
    )
    op.create_index(op.f("ix_psi_messages_peer_id"), "psi_messages", ["peer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_psi_messages_peer_id"), table_name="psi_messages")
    op.drop_table("psi_messages")
    # Rows whose id was dropped cannot be given one back: they go with the column's
    # NOT NULL (their audit events keep the ids).
    op.execute("DELETE FROM federation_exchanges WHERE envelope_id IS NULL")
    with op.batch_alter_table("federation_exchanges") as batch:
        batch.alter_column("envelope_id", existing_type=sa.String(length=32), nullable=False)
