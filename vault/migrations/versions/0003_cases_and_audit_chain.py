"""cases (sources, submissions, assignees, labels, status history), account keys and
encrypted case notes, and the audit hash chain

Revision ID: 0003
Revises: 0002

Existing audit events are chained in id order during the upgrade, so `backupctl audit
verify` holds from the first event on. The hash is computed here with its own frozen
copy of the canonical form (a migration must not change when the app's code does).
"""

import datetime as dt
import hashlib
import json

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64


def _status() -> sa.Enum:
    return sa.Enum(
        "NEW",
        "TRIAGE",
        "VERIFIED",
        "REFERRED",
        "JUDICIAL",
        "CLOSED",
        "DISCARDED",
        name="casestatus",
        native_enum=False,
        length=16,
    )


def _hash(seq: int, at: dt.datetime, actor: str | None, row: sa.Row, prev: str) -> str:  # type: ignore[type-arg]
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    body = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).isoformat(),
        "actor": actor,
        "action": row.action,
        "object_type": row.object_type,
        "object_uuid": row.object_uuid,
        "prev": prev,
    }
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _chain_existing_events() -> None:
    conn = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("at", UTCDateTime(timezone=True)),
        sa.column("actor_id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("object_type", sa.String),
        sa.column("object_uuid", sa.String),
        sa.column("actor_uuid", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    reviewers = sa.table("reviewers", sa.column("id", sa.Integer), sa.column("uuid", sa.String))
    uuids = dict(conn.execute(sa.select(reviewers.c.id, reviewers.c.uuid)).all())
    prev = _GENESIS
    rows = conn.execute(
        sa.select(
            events.c.id,
            events.c.at,
            events.c.actor_id,
            events.c.action,
            events.c.object_type,
            events.c.object_uuid,
        ).order_by(events.c.id)
    ).all()
    for seq, row in enumerate(rows, start=1):
        actor = uuids.get(row.actor_id) if row.actor_id is not None else None
        digest = _hash(seq, row.at, actor, row, prev)
        conn.execute(
            events.update()
            .where(events.c.id == row.id)
            .values(actor_uuid=actor, seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("actor_uuid", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(op.f("uq_audit_events_seq"), ["seq"])

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("status", _status(), nullable=False),
        sa.Column("status_reason", sa.String(length=32), nullable=True),
        sa.Column(
            "priority",
            sa.Enum("LOW", "NORMAL", "HIGH", name="casepriority", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("urgent_medical", sa.Boolean(), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["reviewers.id"],
            name=op.f("fk_cases_created_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
        sa.UniqueConstraint("uuid", name=op.f("uq_cases_uuid")),
    )
    op.create_index("ix_cases_due_at", "cases", ["due_at"], unique=False)
    op.create_index("ix_cases_status_priority", "cases", ["status", "priority"], unique=False)
    op.create_index(op.f("ix_cases_urgent_medical"), "cases", ["urgent_medical"], unique=False)

    op.create_table(
        "case_sources",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_sources_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_case_sources_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "source_id", name=op.f("pk_case_sources")),
    )
    op.create_index(op.f("ix_case_sources_source_id"), "case_sources", ["source_id"], unique=False)
    op.create_table(
        "case_submissions",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_submissions_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_case_submissions_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "submission_id", name=op.f("pk_case_submissions")),
    )
    op.create_index(
        op.f("ix_case_submissions_submission_id"),
        "case_submissions",
        ["submission_id"],
        unique=False,
    )
    op.create_table(
        "case_assignees",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_assignees_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_case_assignees_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "reviewer_id", name=op.f("pk_case_assignees")),
    )
    op.create_index(
        op.f("ix_case_assignees_reviewer_id"), "case_assignees", ["reviewer_id"], unique=False
    )
    op.create_table(
        "case_labels",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_labels_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "label", name=op.f("pk_case_labels")),
    )
    op.create_index(op.f("ix_case_labels_label"), "case_labels", ["label"], unique=False)
    op.create_table(
        "case_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("from_status", _status(), nullable=False),
        sa.Column("to_status", _status(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["reviewers.id"],
            name=op.f("fk_case_status_changes_actor_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_status_changes_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_status_changes")),
    )
    op.create_index(
        op.f("ix_case_status_changes_case_id"), "case_status_changes", ["case_id"], unique=False
    )

    op.create_table(
        "account_keys",
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_account_keys_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reviewer_id", name=op.f("pk_account_keys")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_account_keys_fingerprint")),
    )
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["reviewers.id"],
            name=op.f("fk_case_notes_author_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
        sa.UniqueConstraint("uuid", name=op.f("uq_case_notes_uuid")),
    )
    op.create_index(op.f("ix_case_notes_case_id"), "case_notes", ["case_id"], unique=False)
    _create_partner_tables()
    # The inbox at scale: count per source, sort and page on activity.
    op.create_index(op.f("ix_submissions_source_id"), "submissions", ["source_id"], unique=False)
    op.create_index(op.f("ix_replies_source_id"), "replies", ["source_id"], unique=False)
    op.create_index(op.f("ix_sources_last_updated"), "sources", ["last_updated"], unique=False)


def _create_partner_tables() -> None:
    op.create_table(
        "partner_orgs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("services", sa.String(length=64), nullable=False),
        sa.Column("regions", sa.String(length=255), nullable=False),
        sa.Column("languages", sa.String(length=128), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_orgs")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_orgs_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_partner_orgs_uuid")),
    )
    op.create_table(
        "partner_members",
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["partner_orgs.id"],
            name=op.f("fk_partner_members_org_id_partner_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_partner_members_reviewer_id_reviewers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reviewer_id", name=op.f("pk_partner_members")),
    )
    op.create_index(op.f("ix_partner_members_org_id"), "partner_members", ["org_id"], unique=False)
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PROPOSED",
                "ACCEPTED",
                "IN_PROGRESS",
                "COMPLETED",
                "DECLINED",
                name="referralstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("consent_attested_by_id", sa.Integer(), nullable=True),
        sa.Column("consent_attested_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("contact_consented", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["consent_attested_by_id"],
            ["reviewers.id"],
            name=op.f("fk_referrals_consent_attested_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["partner_orgs.id"],
            name=op.f("fk_referrals_org_id_partner_orgs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_referrals_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("case_id", "org_id", name=op.f("uq_referrals_case_id")),
        sa.UniqueConstraint("uuid", name=op.f("uq_referrals_uuid")),
    )
    op.create_index(op.f("ix_referrals_case_id"), "referrals", ["case_id"], unique=False)
    op.create_index(op.f("ix_referrals_org_id"), "referrals", ["org_id"], unique=False)
    op.create_index(op.f("ix_referrals_source_id"), "referrals", ["source_id"], unique=False)
    op.create_table(
        "referral_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["reviewers.id"],
            name=op.f("fk_referral_messages_author_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_messages_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_messages")),
        sa.UniqueConstraint("uuid", name=op.f("uq_referral_messages_uuid")),
    )
    op.create_index(
        op.f("ix_referral_messages_referral_id"), "referral_messages", ["referral_id"], unique=False
    )


def _drop_partner_tables() -> None:
    op.drop_index(op.f("ix_referral_messages_referral_id"), table_name="referral_messages")
    op.drop_table("referral_messages")
    op.drop_index(op.f("ix_referrals_source_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_org_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_case_id"), table_name="referrals")
    op.drop_table("referrals")
    op.drop_index(op.f("ix_partner_members_org_id"), table_name="partner_members")
    op.drop_table("partner_members")
    op.drop_table("partner_orgs")


def downgrade() -> None:
    op.drop_index(op.f("ix_sources_last_updated"), table_name="sources")
    op.drop_index(op.f("ix_replies_source_id"), table_name="replies")
    op.drop_index(op.f("ix_submissions_source_id"), table_name="submissions")
    _drop_partner_tables()
    op.drop_index(op.f("ix_case_notes_case_id"), table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_table("account_keys")
    for table, column in (
        ("case_status_changes", "case_id"),
        ("case_labels", "label"),
        ("case_assignees", "reviewer_id"),
        ("case_submissions", "submission_id"),
        ("case_sources", "source_id"),
    ):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
        op.drop_table(table)
    op.drop_index(op.f("ix_cases_urgent_medical"), table_name="cases")
    op.drop_index("ix_cases_status_priority", table_name="cases")
    op.drop_index("ix_cases_due_at", table_name="cases")
    op.drop_table("cases")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(op.f("uq_audit_events_seq"), type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
        batch.drop_column("actor_uuid")
