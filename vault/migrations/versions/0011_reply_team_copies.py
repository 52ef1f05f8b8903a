"""reply team copies: each reply the server seals is also sealed for the team

`reply_copies` holds the team's copy of a reply (sealed to the readers of case notes and
the submission key, re-sealed as notes are); `replies.sealed_by` says who sealed the
reply (the server, or the reviewer's own client through the API). Existing replies keep
`sealed_by` NULL and have no team copy: they were sealed before team copies existed and
are read on the workstation.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.add_column(
            sa.Column(
                "sealed_by",
                sa.Enum("SERVER", "CLIENT", name="replysealer", native_enum=False, length=8),
                nullable=True,
            )
        )
    op.create_table(
        "reply_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"],
            ["replies.id"],
            name=op.f("fk_reply_copies_reply_id_replies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_copies")),
        sa.UniqueConstraint("reply_id", name=op.f("uq_reply_copies_reply_id")),
    )


def downgrade() -> None:
    op.drop_table("reply_copies")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("sealed_by")
