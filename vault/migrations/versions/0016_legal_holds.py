"""legal holds: a case under legal hold is exempt from automatic deletion

`case_legal_holds` holds one row per held case: who set the hold, when, and the reason
sealed with the column key (vault.column_key, bound to the case's uuid). Lifting a hold
removes its row; the audit log keeps the history. The downgrade drops the table: every
hold is lost with it (retention would then treat those cases as any other).

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_legal_holds",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("set_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason_sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_legal_holds_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"],
            ["reviewers.id"],
            name=op.f("fk_case_legal_holds_set_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_legal_holds")),
    )


def downgrade() -> None:
    op.drop_table("case_legal_holds")
