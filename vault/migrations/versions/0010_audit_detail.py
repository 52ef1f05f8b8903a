"""audit events say exactly what changed

`detail` holds canonical JSON of identifiers and enumerated values (a field, its old
and new value). The hash chain covers it only when present, so existing events keep
their hashes and nothing is back-filled.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("detail", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("detail")
