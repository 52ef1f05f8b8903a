"""inbox at scale: unread rows per reader, starred index, stored reply public keys

`unread_submissions` holds one row per (reader, live submission the reader has not
seen): the inbox's unread filter and its counts read it through the
(reviewer_id, source_id) index instead of looking for a missing `seen_submissions` row
among every submission. It is filled here for the current readers (active analysts and
admins) from `seen_submissions`, which stays the record. `sources.starred` gets an index
for the starred filter. `sources.reply_public_key` keeps each reply key's armored public
half so the API lists sources without a gpg call per source; existing sources get it
from the keyring the first time they are listed (the migration has no keyring).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BACKFILL = """
INSERT INTO unread_submissions (submission_id, reviewer_id, source_id)
SELECT submissions.id, reviewers.id, submissions.source_id
FROM submissions
JOIN sources ON sources.id = submissions.source_id
CROSS JOIN reviewers
WHERE reviewers.role IN ('ANALYST', 'ADMIN')
  AND reviewers.is_active
  AND submissions.deleted_at IS NULL
  AND sources.deleted_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM seen_submissions
    WHERE seen_submissions.submission_id = submissions.id
      AND seen_submissions.reviewer_id = reviewers.id
  )
"""


def upgrade() -> None:
    op.create_table(
        "unread_submissions",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_unread_submissions_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_unread_submissions_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_unread_submissions_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", "reviewer_id", name=op.f("pk_unread_submissions")),
    )
    op.create_index(
        "ix_unread_submissions_reviewer_source",
        "unread_submissions",
        ["reviewer_id", "source_id"],
    )
    op.create_index(op.f("ix_unread_submissions_source_id"), "unread_submissions", ["source_id"])
    op.create_index(op.f("ix_sources_starred"), "sources", ["starred"])
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("reply_public_key", sa.Text(), nullable=True))
    op.execute(_BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        # Statistics for the new table at once: without them the planner guessed it
        # empty, and a login's rebuild (vault.services.unread.resync) took 20-30 s at
        # 10,000 sources instead of ~150 ms, until autovacuum came by.
        op.execute("ANALYZE unread_submissions")


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("reply_public_key")
    op.drop_index(op.f("ix_sources_starred"), table_name="sources")
    op.drop_table("unread_submissions")
