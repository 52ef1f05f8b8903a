"""Alembic is the only way the schema is made: it must match the models, both ways."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vault.db import Base, UTCDateTime, make_engine
from vault.migrate import downgrade, upgrade


def test_upgrade_matches_models_and_downgrades(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert {"sources", "submissions", "replies", "reviewers"} <= set(
        inspect(engine).get_table_names()
    )
    downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_0005_records_recipients_and_keeps_existing_rows(database_url: str) -> None:
    """0005 adds a nullable `recipients` to case notes and referral messages: rows written
    before stay (recipients unknown: NULL) and survive the downgrade."""
    upgrade(database_url, "0004")
    engine = make_engine(database_url)
    at = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    cases = sa.table(
        "cases",
        *(sa.column(c) for c in ("id", "uuid", "reference", "status", "priority")),
        sa.column("urgent_medical"),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    notes = sa.table(
        "case_notes",
        *(sa.column(c) for c in ("id", "uuid", "case_id", "ciphertext", "size")),
        sa.column("created_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            cases.insert().values(
                id=1,
                uuid="c" * 36,
                reference="BU-2026-0001",
                status="NEW",
                priority="NORMAL",
                urgent_medical=False,
                created_at=at,
                updated_at=at,
            )
        )
        conn.execute(
            notes.insert().values(
                id=1, uuid="n" * 36, case_id=1, ciphertext=b"\x85sealed", size=7, created_at=at
            )
        )
    assert "recipients" not in {c["name"] for c in inspect(engine).get_columns("case_notes")}

    upgrade(database_url, "0005")
    for table in ("case_notes", "referral_messages"):
        column = {c["name"]: c for c in inspect(engine).get_columns(table)}["recipients"]
        assert column["nullable"]
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT ciphertext, recipients FROM case_notes")).one()
        assert (bytes(row[0]), row[1]) == (b"\x85sealed", None)
        conn.execute(sa.text("UPDATE case_notes SET recipients = 'AAAA,BBBB'"))

    downgrade(database_url, "0004")
    for table in ("case_notes", "referral_messages"):
        assert "recipients" not in {c["name"] for c in inspect(engine).get_columns(table)}
    with engine.connect() as conn:
        assert bytes(conn.execute(sa.text("SELECT ciphertext FROM case_notes")).scalar_one()) == (
            b"\x85sealed"
        )
    downgrade(database_url, "base")
    engine.dispose()


def test_0007_adds_care_requests_and_keeps_reviewers_off_duty(database_url: str) -> None:
    """0007 adds the care requests table and `on_care_duty`, false for every existing
    reviewer (nobody is on duty until an admin says so); the downgrade removes both."""
    upgrade(database_url, "0006")
    engine = make_engine(database_url)
    reviewers = sa.table(
        "reviewers",
        *(sa.column(c) for c in ("id", "uuid", "username", "passphrase_hash", "otp_secret")),
        *(sa.column(c) for c in ("last_totp_step", "role", "is_active")),
        sa.column("created_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            reviewers.insert().values(
                id=1,
                uuid="r" * 36,
                username="analyst1",
                passphrase_hash="x",
                otp_secret="y",
                last_totp_step=0,
                role="ANALYST",
                is_active=True,
                created_at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC),
            )
        )
    assert "care_requests" not in inspect(engine).get_table_names()

    upgrade(database_url, "0007")
    assert "care_requests" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        on_duty = conn.execute(sa.text("SELECT on_care_duty FROM reviewers")).scalar_one()
    assert not on_duty

    downgrade(database_url, "0006")
    assert "care_requests" not in inspect(engine).get_table_names()
    assert "on_care_duty" not in {c["name"] for c in inspect(engine).get_columns("reviewers")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT username FROM reviewers")).scalar_one() == "analyst1"
    downgrade(database_url, "base")
    engine.dispose()


def test_0008_links_replies_to_referrals_and_keeps_existing_rows(database_url: str) -> None:
    """0008 adds a nullable `replies.referral_id` (replies from before stay unlinked) and
    an empty `referral_seen`; the downgrade drops both and keeps the replies."""
    upgrade(database_url, "0006")
    engine = make_engine(database_url)
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    sources = sa.table(
        "sources",
        *(sa.column(c) for c in ("id", "uuid", "lookup_id", "designation")),
        *(sa.column(c) for c in ("reply_key_fingerprint", "interaction_count")),
        *(sa.column(c) for c in ("pending", "starred")),
        sa.column("created_at", UTCDateTime()),
        sa.column("last_updated", UTCDateTime()),
    )
    replies = sa.table(
        "replies",
        *(sa.column(c) for c in ("id", "uuid", "source_id", "filename", "size", "sha256")),
        sa.column("deleted_by_source"),
        sa.column("created_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            sources.insert().values(
                id=1,
                uuid="s" * 36,
                lookup_id="l" * 64,
                designation="sober moth",
                reply_key_fingerprint="F" * 40,
                interaction_count=1,
                pending=False,
                starred=False,
                created_at=at,
                last_updated=at,
            )
        )
        conn.execute(
            replies.insert().values(
                id=1,
                uuid="r" * 36,
                source_id=1,
                filename="1-sober-moth-reply.gpg",
                size=7,
                sha256="0" * 64,
                deleted_by_source=False,
                created_at=at,
            )
        )

    upgrade(database_url, "0008")
    column = {c["name"]: c for c in inspect(engine).get_columns("replies")}["referral_id"]
    assert column["nullable"]
    assert "referral_seen" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT referral_id FROM replies")).scalar_one() is None
        assert conn.execute(sa.text("SELECT count(*) FROM referral_seen")).scalar_one() == 0

    downgrade(database_url, "0006")
    assert "referral_id" not in {c["name"] for c in inspect(engine).get_columns("replies")}
    assert "referral_seen" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT uuid FROM replies")).scalar_one() == "r" * 36
    downgrade(database_url, "base")
    engine.dispose()


def test_0009_adds_consent_tables_and_leaves_sources_alone(database_url: str) -> None:
    """0009 adds the consent state (records, answers) and the consent-document flags;
    nothing existing changes, and the downgrade removes only those three tables."""
    upgrade(database_url, "0008")
    engine = make_engine(database_url)
    at = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    sources = sa.table(
        "sources",
        *(sa.column(c) for c in ("id", "uuid", "lookup_id", "designation")),
        *(sa.column(c) for c in ("reply_key_fingerprint", "interaction_count", "pending")),
        sa.column("starred"),
        sa.column("created_at", UTCDateTime()),
        sa.column("last_updated", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            sources.insert().values(
                id=1,
                uuid="s" * 36,
                lookup_id="l" * 64,
                designation="sober moth",
                reply_key_fingerprint="F" * 40,
                interaction_count=1,
                pending=False,
                starred=False,
                created_at=at,
                last_updated=at,
            )
        )
    consent_tables = {"consent_records", "consent_answers", "consent_documents"}
    assert not consent_tables & set(inspect(engine).get_table_names())

    upgrade(database_url, "0009")
    assert consent_tables <= set(inspect(engine).get_table_names())
    records = sa.table(
        "consent_records",
        *(sa.column(c) for c in ("id", "uuid", "source_id", "submission_uuid", "document_name")),
        sa.column("origin"),
        sa.column("given_at", UTCDateTime()),
        sa.column("recorded_at", UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            records.insert().values(
                id=1,
                uuid="r" * 36,
                source_id=1,
                submission_uuid="m" * 36,
                document_name="2-sober_moth-msg.gpg",
                origin="WORKSTATION",
                given_at=at,
                recorded_at=at,
            )
        )
        conn.execute(
            sa.text("INSERT INTO consent_answers VALUES (1, 'court', 'YES')"),
        )
        assert conn.execute(sa.text("SELECT answer FROM consent_answers")).scalar_one() == "YES"

    downgrade(database_url, "0008")
    assert not consent_tables & set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT designation FROM sources")).scalar_one() == "sober moth"
    downgrade(database_url, "base")
    engine.dispose()
