"""release origin: an observatory keeps other organisations' releases beside its own

`observatory_releases.origin` is the federation identity of the organisation whose
signed release was imported (checked against the key pinned for it); NULL for the
instance's own releases, signed by its submission key.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observatory_releases") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=128), nullable=True))
        batch.create_index(batch.f("ix_observatory_releases_origin"), ["origin"])


def downgrade() -> None:
    with op.batch_alter_table("observatory_releases") as batch:
        batch.drop_index(batch.f("ix_observatory_releases_origin"))
        batch.drop_column("origin")
