"""Apply Alembic migrations programmatically (the only way the schema is created)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The instance's column key file (vault.column_key), for migrations that seal or open
# columns (0014). Not needed on a database without rows to convert.
COLUMN_KEY_FILE_ATTRIBUTE = "column_key_file"


def alembic_config(database_url: str, column_key_file: Path | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes[COLUMN_KEY_FILE_ATTRIBUTE] = column_key_file
    return cfg


def upgrade(
    database_url: str, revision: str = "head", *, column_key_file: Path | None = None
) -> None:
    command.upgrade(alembic_config(database_url, column_key_file), revision)


def downgrade(database_url: str, revision: str, *, column_key_file: Path | None = None) -> None:
    command.downgrade(alembic_config(database_url, column_key_file), revision)
