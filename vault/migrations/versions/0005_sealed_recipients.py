"""sealed recipients: whom each case note and referral message is sealed to

Re-sealing (vault.services.notes) compares this with the current readers. Existing rows
stay NULL (unknown): they are re-sealed, and recorded, when a reader who can open them
logs in or opens them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("case_notes", "referral_messages")


def upgrade() -> None:
    for table in _TABLES:
        # batch mode: SQLite cannot drop a column in place (downgrade), keep both alike.
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("recipients", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("recipients")
