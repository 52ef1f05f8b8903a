"""consent as a state: recorded consents per source (with history) and the arrival of
consent-bearing documents

A consent record is one recording of a source's consent, read from one sealed document
(an ASSIST request or a change of consent): the answer per purpose, when the source gave
it, which document, who recorded it and when. The newest is the source's state. A
consent document row marks that a sealed message carries consent (no content), so the
reviewer interface can say "new consent document: record it". Nothing exists before
this revision, so nothing is back-filled: older documents are recorded from the
workstation like new ones.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from vault.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("submission_uuid", sa.String(length=36), nullable=False),
        sa.Column("document_name", sa.String(length=255), nullable=False),
        sa.Column("given_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "origin",
            sa.Enum(
                "WORKSTATION", "CARE_REQUEST", name="consentorigin", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_consent_records_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_consent_records_case_id_cases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["reviewers.id"],
            name=op.f("fk_consent_records_recorded_by_id_reviewers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
        sa.UniqueConstraint("uuid", name=op.f("uq_consent_records_uuid")),
    )
    op.create_index(
        "ix_consent_records_source_given", "consent_records", ["source_id", "given_at"]
    )
    op.create_index(op.f("ix_consent_records_case_id"), "consent_records", ["case_id"])
    op.create_table(
        "consent_answers",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column(
            "answer",
            sa.Enum("YES", "NO", "UNKNOWN", name="answer", native_enum=False, length=16),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["consent_records.id"],
            name=op.f("fk_consent_answers_record_id_consent_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("record_id", "purpose", name=op.f("pk_consent_answers")),
    )
    op.create_table(
        "consent_documents",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_consent_documents_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_consent_documents_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_consent_documents")),
    )
    op.create_index(
        op.f("ix_consent_documents_source_id"), "consent_documents", ["source_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_consent_documents_source_id"), table_name="consent_documents")
    op.drop_table("consent_documents")
    op.drop_table("consent_answers")
    op.drop_index(op.f("ix_consent_records_case_id"), table_name="consent_records")
    op.drop_index("ix_consent_records_source_given", table_name="consent_records")
    op.drop_table("consent_records")
