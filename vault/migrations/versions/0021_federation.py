"""federation: peer instances and the envelopes exchanged with them

`federation_peers`: each peer instance an admin added (name, fingerprint, onion
address, public keys), removed ones kept with `removed_at`. `federation_exchanges`:
each envelope accepted from or delivered to a peer (ids, kind, outcome; no body).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("onion", sa.String(length=62), nullable=False),
        sa.Column("verify_key", sa.Text(), nullable=False),
        sa.Column("client_auth_public", sa.String(length=52), nullable=False),
        sa.Column("release_key", sa.Text(), nullable=True),
        sa.Column("release_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_peers")),
        sa.UniqueConstraint("uuid", name=op.f("uq_federation_peers_uuid")),
        sa.UniqueConstraint("name", name=op.f("uq_federation_peers_name")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_federation_peers_fingerprint")),
    )
    op.create_table(
        "federation_exchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("envelope_id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created", sa.String(length=20), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("object_uuid", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_federation_exchanges_peer_id_federation_peers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_exchanges")),
        sa.UniqueConstraint(
            "direction", "envelope_id", name=op.f("uq_federation_exchanges_direction")
        ),
    )
    op.create_index(
        op.f("ix_federation_exchanges_peer_id"), "federation_exchanges", ["peer_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_federation_exchanges_peer_id"), table_name="federation_exchanges")
    op.drop_table("federation_exchanges")
    op.drop_table("federation_peers")
