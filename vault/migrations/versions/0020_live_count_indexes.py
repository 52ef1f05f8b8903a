"""live count indexes: submissions and replies not deleted, by source

The inbox counts each page's live submissions and replies per source, and the API's list
counts every source's live documents and messages. With an index on `source_id` alone
each count read the rows themselves to skip deleted ones (on PostgreSQL, ~160 heap pages
for a page of 50 sources with 10 submissions each). Partial indexes on the live rows,
holding what is counted (`kind` for submissions), answer the counts from the index alone
(index-only on PostgreSQL once the visibility map is set, covering on SQLite), and the
API's grouped count walks them in source order instead of hashing the whole table.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_submissions_live_source_kind",
        "submissions",
        ["source_id", "kind"],
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )
    op.create_index(
        "ix_replies_live_source",
        "replies",
        ["source_id"],
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_replies_live_source", table_name="replies")
    op.drop_index("ix_submissions_live_source_kind", table_name="submissions")
