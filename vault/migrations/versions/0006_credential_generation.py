"""credential generation: deactivation ends sessions and API tokens for good

Each reviewer gets a counter that deactivation raises. Sessions and API tokens carry a
stamp derived from it (vault.services.reviewers.credential_stamp), so those issued
before a deactivation never work again, even after reactivation. Existing rows start at
0; the stamp's formula changes with this revision, so everyone logs in again once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviewers") as batch:
        batch.add_column(
            sa.Column(
                "credential_generation", sa.Integer(), nullable=False, server_default=sa.text("0")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("reviewers") as batch:
        batch.drop_column("credential_generation")
