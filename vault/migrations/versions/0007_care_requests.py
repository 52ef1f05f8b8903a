"""care requests and the on-duty care team

The care copy of an ASSIST request, sealed to the on-duty team's account keys and the
submission key (vault.models.care), and the reviewers' `on_care_duty` flag.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviewers") as batch:
        batch.add_column(
            sa.Column("on_care_duty", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "care_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("OPEN", "TAKEN", "CLOSED", name="carestatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("taken_by_id", sa.Integer(), nullable=True),
        sa.Column("taken_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_care_requests_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"],
            ["reviewers.id"],
            name=op.f("fk_care_requests_taken_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_requests")),
        sa.UniqueConstraint("uuid", name=op.f("uq_care_requests_uuid")),
    )
    op.create_index(
        op.f("ix_care_requests_source_id"), "care_requests", ["source_id"], unique=False
    )
    op.create_index(op.f("ix_care_requests_status"), "care_requests", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_care_requests_status"), table_name="care_requests")
    op.drop_index(op.f("ix_care_requests_source_id"), table_name="care_requests")
    op.drop_table("care_requests")
    with op.batch_alter_table("reviewers") as batch:
        batch.drop_column("on_care_duty")
