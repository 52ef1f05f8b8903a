"""case_messages: messages between professionals on a case shared with a peer

One row per message written here (`out`: our sealed copy, the copy sealed to the peer
until it is accepted) or received from the peer (`in`: sealed to our submission key),
hanging on the case transfer both sides share.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("outgoing", sa.LargeBinary(), nullable=True),
        sa.Column("created", sa.String(length=20), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("envelope_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["case_transfers.id"],
            name=op.f("fk_case_messages_transfer_id_case_transfers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["reviewers.id"],
            name=op.f("fk_case_messages_author_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_messages")),
        sa.UniqueConstraint("direction", "uuid", name=op.f("uq_case_messages_direction")),
    )
    op.create_index(op.f("ix_case_messages_transfer_id"), "case_messages", ["transfer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_messages_transfer_id"), table_name="case_messages")
    op.drop_table("case_messages")
