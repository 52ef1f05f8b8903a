"""observatory releases: signed statistics imported from the workstation

`observatory_releases` keeps every imported release: the signed bytes and detached
signature as received (verifiable again), its metadata as columns, who imported it and
when, and whether (and by whom) it is published to partners.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observatory_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.Column("method_k", sa.Integer(), nullable=False),
        sa.Column("dimensions", sa.String(length=200), nullable=False),
        sa.Column("countries", sa.String(length=200), nullable=False),
        sa.Column("first_month", sa.String(length=7), nullable=False),
        sa.Column("last_month", sa.String(length=7), nullable=False),
        sa.Column("period_unit", sa.String(length=8), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("records_noisy", sa.Boolean(), nullable=False),
        sa.Column("suppressed_primary", sa.Integer(), nullable=False),
        sa.Column("suppressed_complementary", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("dp_epsilon", sa.Float(), nullable=True),
        sa.Column("dp_contribution_cap", sa.Integer(), nullable=True),
        sa.Column("signer_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by_id", sa.Integer(), nullable=True),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["imported_by_id"],
            ["reviewers.id"],
            name=op.f("fk_observatory_releases_imported_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["reviewers.id"],
            name=op.f("fk_observatory_releases_published_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observatory_releases")),
        sa.UniqueConstraint("uuid", name=op.f("uq_observatory_releases_uuid")),
    )


def downgrade() -> None:
    op.drop_table("observatory_releases")
