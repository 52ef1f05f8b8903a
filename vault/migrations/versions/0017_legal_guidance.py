"""legal guidance: partner investigators' questions to WWoW's legal advisers

`reviewers.legal_adviser` (false for everyone: an admin names the advisers), and the
sealed questions and answers (vault.models.guidance): ciphertext and who/when only.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _sealed_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    ]


def _author_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["author_id"],
        ["reviewers.id"],
        name=op.f(f"fk_{table}_author_id_reviewers"),
        ondelete="SET NULL",
    )


def upgrade() -> None:
    with op.batch_alter_table("reviewers") as batch:
        batch.add_column(
            sa.Column("legal_adviser", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "guidance_questions",
        *_sealed_columns(),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_guidance_questions_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        _author_fk("guidance_questions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guidance_questions")),
        sa.UniqueConstraint("uuid", name=op.f("uq_guidance_questions_uuid")),
    )
    op.create_index(
        op.f("ix_guidance_questions_referral_id"),
        "guidance_questions",
        ["referral_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_guidance_questions_answered_at"),
        "guidance_questions",
        ["answered_at"],
        unique=False,
    )
    op.create_table(
        "guidance_answers",
        *_sealed_columns(),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["guidance_questions.id"],
            name=op.f("fk_guidance_answers_question_id_guidance_questions"),
            ondelete="CASCADE",
        ),
        _author_fk("guidance_answers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guidance_answers")),
        sa.UniqueConstraint("uuid", name=op.f("uq_guidance_answers_uuid")),
    )
    op.create_index(
        op.f("ix_guidance_answers_question_id"), "guidance_answers", ["question_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_guidance_answers_question_id"), table_name="guidance_answers")
    op.drop_table("guidance_answers")
    op.drop_index(op.f("ix_guidance_questions_answered_at"), table_name="guidance_questions")
    op.drop_index(op.f("ix_guidance_questions_referral_id"), table_name="guidance_questions")
    op.drop_table("guidance_questions")
    with op.batch_alter_table("reviewers") as batch:
        batch.drop_column("legal_adviser")
