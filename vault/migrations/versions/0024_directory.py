"""directory: partner professionals listed to peer instances, and peers' directories

`directory_listings`: each agreement one of our partner professionals gave to be listed
(who, when, when withdrawn; the entry sealed). `directory_publications`: each directory
built for peers (its id is the version). `peer_directories` / `peer_directory_entries`:
the last directory each peer sent (version, when; entries sealed).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("agreed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("entry_sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_directory_listings_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_listings")),
        sa.UniqueConstraint("uuid", name=op.f("uq_directory_listings_uuid")),
    )
    op.create_index(
        op.f("ix_directory_listings_reviewer_id"), "directory_listings", ["reviewer_id"]
    )
    op.create_table(
        "directory_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_publications")),
    )
    op.create_table(
        "peer_directories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_peer_directories_peer_id_federation_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_directories")),
        sa.UniqueConstraint("peer_id", name=op.f("uq_peer_directories_peer_id")),
    )
    op.create_table(
        "peer_directory_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=32), nullable=False),
        sa.Column("entry_sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_peer_directory_entries_peer_id_federation_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_directory_entries")),
        sa.UniqueConstraint("uuid", name=op.f("uq_peer_directory_entries_uuid")),
        sa.UniqueConstraint(
            "peer_id", "entry_id", name=op.f("uq_peer_directory_entries_peer_id")
        ),
    )
    op.create_index(
        op.f("ix_peer_directory_entries_peer_id"), "peer_directory_entries", ["peer_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_peer_directory_entries_peer_id"), table_name="peer_directory_entries")
    op.drop_table("peer_directory_entries")
    op.drop_table("peer_directories")
    op.drop_table("directory_publications")
    op.drop_index(op.f("ix_directory_listings_reviewer_id"), table_name="directory_listings")
    op.drop_table("directory_listings")
