"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 03:01:33.205437
"""
from alembic import op
import sqlalchemy as sa

from vault.db import UTCDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reviewers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('passphrase_hash', sa.String(length=255), nullable=False),
    sa.Column('otp_secret', sa.String(length=64), nullable=False),
    sa.Column('last_totp_step', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('ANALYST', 'PARTNER', 'ADMIN', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviewers')),
    sa.UniqueConstraint('username', name=op.f('uq_reviewers_username')),
    sa.UniqueConstraint('uuid', name=op.f('uq_reviewers_uuid'))
    )
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('lookup_id', sa.String(length=64), nullable=False),
    sa.Column('designation', sa.String(length=64), nullable=False),
    sa.Column('reply_key_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('interaction_count', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Boolean(), nullable=False),
    sa.Column('starred', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_updated', UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('designation', name=op.f('uq_sources_designation')),
    sa.UniqueConstraint('lookup_id', name=op.f('uq_sources_lookup_id')),
    sa.UniqueConstraint('uuid', name=op.f('uq_sources_uuid'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=True),
    sa.Column('object_uuid', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['reviewers.id'], name=op.f('fk_audit_events_actor_id_reviewers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_table('replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('deleted_by_source', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_replies_reviewer_id_reviewers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_replies_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replies')),
    sa.UniqueConstraint('filename', name=op.f('uq_replies_filename')),
    sa.UniqueConstraint('uuid', name=op.f('uq_replies_uuid'))
    )
    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('MESSAGE', 'FILE', name='submissionkind', native_enum=False, length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('downloaded', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_submissions_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('filename', name=op.f('uq_submissions_filename')),
    sa.UniqueConstraint('uuid', name=op.f('uq_submissions_uuid'))
    )
    op.create_table('seen_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_seen_submissions_reviewer_id_reviewers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_seen_submissions_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seen_submissions')),
    sa.UniqueConstraint('submission_id', 'reviewer_id', name=op.f('uq_seen_submissions_submission_id'))
    )


def downgrade() -> None:
    op.drop_table('seen_submissions')
    op.drop_table('submissions')
    op.drop_table('replies')
    op.drop_table('audit_events')
    op.drop_table('sources')
    op.drop_table('reviewers')
