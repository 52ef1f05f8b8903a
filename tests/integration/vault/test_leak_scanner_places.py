"""The leak scanner finds a marker planted in each place the server writes: files, a
SQLite file and its WAL, PostgreSQL (rows, other schemas, large objects), Redis keys of
every type in every database with their LZF-compressed DUMP payloads, an RDB file, RQ's
queue, and the systemd journal."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, text

from tests.support.leaks import LeakScanner, assert_no_leak
from tests.support.leaks.search import BlobSearch
from tests.support.leaks.streams import Budget

MARKER = "MARKER-place-0c93 ابنتي كانت هناك near the river"


def _places(hits: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(hit.place for hit in hits)


class TestFiles:
    def test_every_file_under_every_root(self, tmp_path: Path) -> None:
        (tmp_path / "store/a/b").mkdir(parents=True)
        (tmp_path / "store/a/b/note.log").write_bytes(b"x" + MARKER.encode("utf-16-le"))
        (tmp_path / "store/clean").write_bytes(os.urandom(10_000))
        single = tmp_path / "single.txt"
        single.write_text(json.dumps({"m": MARKER}))
        hits = LeakScanner(MARKER).scan(files=[tmp_path / "store", single])
        assert [(h.place, h.form) for h in hits] == [
            (f"file {tmp_path}/store/a/b/note.log", "utf-16-le"),
            (f"file {single}", "string escapes undone at 0 > utf-8"),
        ]

    def test_symlinks_are_not_followed_and_a_missing_root_is_an_error(self, tmp_path: Path) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "plain.txt").write_text(MARKER)
        root = tmp_path / "root"
        root.mkdir()
        (root / "link").symlink_to(outside)
        (root / "file-link").symlink_to(outside / "plain.txt")
        assert_no_leak(MARKER, files=[root])
        with pytest.raises(FileNotFoundError):
            LeakScanner(MARKER).scan(files=[tmp_path / "nowhere"])


class TestSQLite:
    def test_the_wal_and_the_file_not_only_the_live_rows(self, tmp_path: Path) -> None:
        path = tmp_path / "backup.sqlite"
        engine = create_engine(f"sqlite:///{path}")
        writer = sqlite3.connect(path)
        try:
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA wal_autocheckpoint=0")  # the page stays in the WAL
            writer.execute("PRAGMA secure_delete=OFF")
            writer.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            writer.execute("INSERT INTO notes (body) VALUES (?)", (MARKER,))
            writer.commit()
            writer.execute("DELETE FROM notes")
            writer.commit()
            hits = LeakScanner(MARKER).scan(engine=engine)
            assert _places(hits) == [f"file {path}-wal"]  # no live row holds it
            # Checkpointed, the deleted row's bytes stay in the file's free space.
            writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            hits = LeakScanner(MARKER).scan(engine=engine)
            assert _places(hits) == [f"file {path}"]
        finally:
            writer.close()
            engine.dispose()

    def test_bytes_cells_and_escaped_json_cells(self, tmp_path: Path) -> None:
        path = tmp_path / "cells.sqlite"
        engine = create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, raw BLOB, doc TEXT)"))
            conn.execute(
                text("INSERT INTO t (raw, doc) VALUES (:raw, :doc)"),
                {"raw": b"\x00\x01" + MARKER.encode(), "doc": json.dumps({"m": [MARKER]})},
            )
        try:
            hits = [h for h in LeakScanner(MARKER).scan(engine=engine) if h.place[:5] == "table"]
            assert sorted((h.place, h.form) for h in hits) == [
                ("table t column doc row 0", "utf-8"),  # the JSON string, parsed
                ("table t column raw row 0", "utf-8"),
            ]
        finally:
            engine.dispose()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator:  # type: ignore[type-arg]
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    yield engine
    engine.dispose()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
class TestPostgreSQL:
    def test_rows_of_every_type_and_what_only_pg_dump_sees(self, pg_engine) -> None:  # type: ignore[no-untyped-def]
        with pg_engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (raw bytea, doc jsonb, body text)"))
            conn.execute(
                text("INSERT INTO t VALUES (:raw, CAST(:doc AS jsonb), :body)"),
                {
                    "raw": zlib.compress(MARKER.encode()),
                    "doc": json.dumps({"m": MARKER}),
                    "body": MARKER.encode().hex(),
                },
            )
        hits = LeakScanner(MARKER).scan(engine=pg_engine)
        assert sorted((h.place, h.form) for h in hits) == [
            ("pg_dump of " + pg_engine.url.database, "utf-8"),  # the jsonb value
            ("table t column body row 0", "hex"),
            ("table t column doc row 0", "utf-8"),
            ("table t column raw row 0", "zlib stream at 0 > utf-8"),
        ]
        with pg_engine.begin() as conn:
            conn.execute(text("DELETE FROM t"))
            conn.execute(text("CREATE SCHEMA hidden"))
            conn.execute(text("CREATE TABLE hidden.t (body text)"))
            conn.execute(text("INSERT INTO hidden.t VALUES (:m)"), {"m": MARKER})
        hits = LeakScanner(MARKER).scan(engine=pg_engine)
        assert _places(hits) == ["pg_dump of " + pg_engine.url.database]
        with pg_engine.begin() as conn:
            conn.execute(text("DROP SCHEMA hidden CASCADE"))
            conn.execute(text("SELECT lo_from_bytea(0, :m)"), {"m": MARKER.encode()})
        hits = LeakScanner(MARKER).scan(engine=pg_engine)
        assert _places(hits) == ["pg_dump of " + pg_engine.url.database]  # a large object


class TestRedis:
    def test_every_type_every_database(self, redis: Redis) -> None:
        planted = {
            b"s": lambda r: r.set(b"s", b"a" + MARKER.encode()),
            b"h": lambda r: r.hset(b"h", mapping={b"f": b"1", b"g": MARKER.encode()}),
            b"l": lambda r: r.rpush(b"l", b"x", b"y", MARKER.encode()),
            b"se": lambda r: r.sadd(b"se", b"x", MARKER.encode()),
            b"z": lambda r: r.zadd(b"z", {b"x": 1, MARKER.encode(): 2}),
            b"st": lambda r: r.xadd(b"st", {b"f": MARKER.encode()}),
        }
        kinds = {b"s": "string", b"h": "hash", b"l": "list", b"se": "set", b"z": "zset",
                 b"st": "stream"}  # fmt: skip
        for key, plant in planted.items():
            redis.flushdb()
            plant(redis)
            hits = LeakScanner(MARKER).scan(redis=redis)
            where = f"redis db0 {kinds[key]} {key!r}"
            assert any(h.place.startswith(where) for h in hits), (key, hits)
        redis.flushdb()
        redis.set(MARKER.encode(), b"1")  # a key name
        assert _places(LeakScanner(MARKER).scan(redis=redis)) == [
            f"redis db0 string {MARKER.encode()!r} (key name)"
        ]
        redis.flushdb()
        other = Redis(connection_pool=redis.connection_pool.__class__(
            connection_class=redis.connection_pool.connection_class,
            **{**redis.connection_pool.connection_kwargs, "db": 5},
        ))  # fmt: skip
        try:
            other.set(b"elsewhere", MARKER.encode())
            assert _places(LeakScanner(MARKER).scan(redis=redis)) == [
                "redis db5 string b'elsewhere' (DUMP payload)",
                "redis db5 string b'elsewhere' value",
            ]
        finally:
            other.flushdb()
            other.close()

    def test_dump_payloads_and_rdb_files_are_opened(self, redis: Redis, tmp_path: Path) -> None:
        """Redis's serialisation compresses long strings with LZF: the scanner opens it."""
        value = (MARKER + " ") * 20
        redis.set(b"long", value.encode())
        payload = redis.dump(b"long")
        assert payload is not None and MARKER.encode() not in payload
        hits = BlobSearch((MARKER,), Budget()).search(payload, "dump", rdb=True)
        assert [h.form for h in hits] == ["LZF string at 1 > utf-8"]
        # The same in an RDB file written by the server itself.
        directory = Path(redis.config_get("dir")["dir"])
        rdb = directory / redis.config_get("dbfilename")["dbfilename"]
        redis.save()
        try:
            assert MARKER.encode() not in rdb.read_bytes()
            [hit] = LeakScanner(MARKER).scan(files=[rdb])
            assert hit.form.startswith("LZF string at ")
        finally:
            rdb.unlink()

    def test_rq_job_arguments(self, redis: Redis) -> None:
        """RQ keeps a job's arguments pickled and zlib-compressed in a hash."""
        Queue("leaks", connection=redis).enqueue("builtins.print", MARKER * 3)
        hits = LeakScanner(MARKER).scan(redis=redis)
        assert any(
            h.place.startswith("redis db0 hash b'rq:job:") and "zlib stream" in h.form for h in hits
        ), hits


class TestJournal:
    def test_exported_entries_binary_fields_included(self, tmp_path: Path) -> None:
        field = MARKER.encode() + b"\x00binary"
        export = (
            b"__CURSOR=s=1\nPRIORITY=6\nMESSAGE\n" + struct.pack("<Q", len(field)) + field + b"\n\n"
        )
        [hit] = LeakScanner(MARKER).scan(journal=export)
        assert hit.place == "systemd journal"
        empty = tmp_path / "journal"
        empty.mkdir()
        assert LeakScanner(MARKER).scan(journal=empty) == []  # journalctl ran on it
