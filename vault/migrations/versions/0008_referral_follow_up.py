"""referral follow-up: partner replies linked to their referral; referrals seen

`replies.referral_id` marks a reply a partner wrote over a referral (the source sees it
as the partner's; the referring analyst's dashboard counts it). Replies written before
stay unlinked (NULL). `referral_seen` records when each reviewer last viewed each
referral; it starts empty, so every referral reads as unseen once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("referral_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_replies_referral_id"), ["referral_id"])
        batch.create_foreign_key(
            batch.f("fk_replies_referral_id_referrals"),
            "referrals",
            ["referral_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "referral_seen",
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_seen_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_referral_seen_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("referral_id", "reviewer_id", name=op.f("pk_referral_seen")),
    )


def downgrade() -> None:
    op.drop_table("referral_seen")
    with op.batch_alter_table("replies") as batch:
        batch.drop_constraint(batch.f("fk_replies_referral_id_referrals"), type_="foreignkey")
        batch.drop_index(batch.f("ix_replies_referral_id"))
        batch.drop_column("referral_id")
