"""SQLAlchemy 2.0 base, engine and session factory."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are reproducible on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        result: dt.datetime = value.astimezone(dt.UTC)
        return result

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime}  # noqa: RUF012  (SQLAlchemy API)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Address space only (pages are mapped as touched); SQLite's own ceiling is 2 GiB.
SQLITE_MMAP_SIZE = 1 << 30


def make_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine for the given URL; SQLite gets foreign keys and a busy timeout.
    `pool_size`, `max_overflow`: PostgreSQL's connection pool (SQLAlchemy's defaults)."""
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"timeout": 30, "check_same_thread": False},
            # A connection per session, closed after it: no process holds the file
            # open between requests (a disk remounted read-only, a restore, the WAL
            # reset when the last connection closes).
            poolclass=NullPool,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            # Deleted rows are overwritten in the file, not left in free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            # Pages read through a mapping of the file, not copied by a read() each:
            # every session opens a fresh connection, whose page cache starts empty,
            # so a page showing 500 scattered sources cost 3.5 ms of reads against 1.0
            # mapped (bench/inbox_scale.py; docs/benchmarks.md). Writes still go through
            # write(), so a full or read-only disk fails a write as before; a media
            # error on a mapped read ends the process reading (SIGBUS: gunicorn or
            # systemd starts another) instead of failing its request with an error.
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_SIZE}")
            cursor.close()

        return engine
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def forget_deleted(db: Session) -> None:
    """After a deletion has committed, on SQLite: fold the WAL into the database file
    and empty it. `secure_delete` overwrites a deleted row in the database's pages, but
    the WAL keeps earlier versions of those pages until it is reset, which SQLite does
    only when the last connection closes, rare on a busy server. Best effort: a reader
    in the middle of a transaction leaves the rest for the next deletion."""
    bind = db.get_bind()
    if bind.dialect.name != "sqlite" or not isinstance(bind, Engine):
        return
    with bind.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
