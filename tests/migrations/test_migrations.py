"""Alembic is the only way the schema is made: it must match the models, both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from vault.db import Base, make_engine
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
