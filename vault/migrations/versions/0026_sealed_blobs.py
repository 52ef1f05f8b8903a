"""sealed_blobs, sealed_blob_chunks: the sealed store's shared copy (BACKUP_STORE=postgresql)

One row per sealed file (its store name, size, SHA-256 of the ciphertext) and its
ciphertext in chunks of about 1 MiB. The chunks are stored EXTERNAL on PostgreSQL
(out of line, never compressed): OpenPGP ciphertext does not compress, and trying
would only cost CPU. Created on SQLite too (empty: the shared copy needs PostgreSQL).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealed_blobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_uuid", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealed_blobs")),
        sa.UniqueConstraint(
            "source_uuid", "filename", name=op.f("uq_sealed_blobs_source_uuid")
        ),
    )
    op.create_index(op.f("ix_sealed_blobs_source_uuid"), "sealed_blobs", ["source_uuid"])
    op.create_table(
        "sealed_blob_chunks",
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"],
            ["sealed_blobs.id"],
            name=op.f("fk_sealed_blob_chunks_blob_id_sealed_blobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blob_id", "n", name=op.f("pk_sealed_blob_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE sealed_blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("sealed_blob_chunks")
    op.drop_index(op.f("ix_sealed_blobs_source_uuid"), table_name="sealed_blobs")
    op.drop_table("sealed_blobs")
