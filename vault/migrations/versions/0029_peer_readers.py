"""peer_reader_keys: the public account keys a peer publishes as readers of case messages

Messages written on a case shared with the peer are sealed to these keys as well as to
its submission key, so that its professionals read them in its reviewer interface.
`federation_peers.readers_version`: the version of the set kept.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("federation_peers") as batch:
        batch.add_column(sa.Column("readers_version", sa.BigInteger(), nullable=True))
    op.create_table(
        "peer_reader_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["federation_peers.id"],
            name=op.f("fk_peer_reader_keys_peer_id_federation_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_reader_keys")),
        sa.UniqueConstraint("peer_id", "fingerprint", name=op.f("uq_peer_reader_keys_peer_id")),
    )
    op.create_index(op.f("ix_peer_reader_keys_peer_id"), "peer_reader_keys", ["peer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_peer_reader_keys_peer_id"), table_name="peer_reader_keys")
    op.drop_table("peer_reader_keys")
    with op.batch_alter_table("federation_peers") as batch:
        batch.drop_column("readers_version")
