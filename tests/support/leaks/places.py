"""Every place the server writes, read out as blobs: files under roots, a database's
files (SQLite with its -wal/-shm/-journal) and every cell of every table, a pg_dump of a
PostgreSQL database, every Redis key of every type in every database with its DUMP
payload, and the systemd journal."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import ConnectionPool, Redis
from sqlalchemy import Engine, inspect, literal_column, select, table

SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_REDIS_BATCH = 500


@dataclass(frozen=True)
class Blob:
    place: str
    data: bytes
    rdb: bool = False  # Redis serialisation: LZF-compressed strings inside


def files(roots: Iterable[Path], incomplete: list[str]) -> Iterator[Blob]:
    """Every regular file under `roots` (a root may be a file); symlinks are not followed.

    A missing root is an error: a scan of nothing must not pass as a clean one.
    """
    seen: set[tuple[int, int]] = set()  # (device, inode): roots may overlap
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"leak scan: {root} does not exist")
        if root.is_file():
            candidates: Iterable[Path] = [root]
        else:
            candidates = (
                Path(top) / name
                for top, _dirs, names in os.walk(
                    root, followlinks=False, onerror=lambda exc: incomplete.append(str(exc))
                )
                for name in sorted(names)
            )
        for path in candidates:
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                identity = (path.stat().st_dev, path.stat().st_ino)
                if identity in seen:
                    continue
                seen.add(identity)
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # gone since listed (a WAL checkpointed away): nothing to read
            except OSError as exc:
                incomplete.append(f"file {path}: {exc}")
                continue
            yield Blob(f"file {path}", data, rdb=data.startswith(b"REDIS"))


def sqlite_files(engine: Engine) -> list[Path]:
    """The SQLite database file and whichever of its companions exist now."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return []
    main = Path(database)
    return [main] + [
        Path(f"{main}{suffix}") for suffix in SQLITE_COMPANIONS if Path(f"{main}{suffix}").exists()
    ]


def _json_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)


def _cell(value: Any) -> bytes:
    """A cell's stored bytes; JSON (text or parsed by the driver) with its strings parsed
    out, so that no escaping hides them."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        dumped = json.dumps(value, ensure_ascii=False, default=str)
        return "\n".join([dumped, *_json_leaves(value)]).encode()
    text = str(value)
    if text[:1] in ("{", "[", '"'):
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            return "\n".join([text, *_json_leaves(parsed)]).encode()
    return text.encode("utf-8", "surrogatepass")


def rows(engine: Engine) -> Iterator[Blob]:
    """Every non-null cell of every table, as stored (bytes columns as bytes)."""
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            result: Any = conn.execute(select(literal_column("*")).select_from(table(name)))
            columns = list(result.keys())
            for number, row in enumerate(result):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        yield Blob(f"table {name} column {column} row {number}", _cell(value))


def _pg_dump_binary() -> str:
    # The newest server binaries the suite uses; pg_dump must be at least the server's.
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    found = candidates[0] if candidates else shutil.which("pg_dump")
    if not found:
        raise RuntimeError("pg_dump missing: the test command installs `postgresql`")
    return found


def pg_dump(engine: Engine) -> Blob:
    """The whole database as pg_dump writes it (every schema, large objects included)."""
    url = engine.url.set(drivername="postgresql")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(password=None).render_as_string(hide_password=False)
    dumped = subprocess.run(  # nosec B603: fixed argv, a test's own database
        [_pg_dump_binary(), "--no-owner", "--no-privileges", "--dbname", dsn],
        capture_output=True,
        check=True,
        env=env,
        timeout=300,
    )
    return Blob(f"pg_dump of {url.database}", dumped.stdout)


def _databases(client: Redis) -> Iterator[tuple[int, Redis]]:
    """A raw (bytes) client for each Redis database that holds keys."""
    pool = client.connection_pool
    found = sorted(int(name[2:]) for name in client.info("keyspace") if name.startswith("db"))
    for number in found:
        kwargs = {**pool.connection_kwargs, "db": number, "decode_responses": False}
        db = Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))
        try:
            yield number, db
        finally:
            db.close()


def _raw(value: Any) -> bytes:
    """Redis replies as bytes, whatever the client's decoding."""
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


def _members(client: Redis, key: bytes, kind: str) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of every part of the value at `key`."""
    if kind == "string":
        yield "value", _raw(client.get(key))
    elif kind == "hash":
        for field, value in client.hscan_iter(key, count=_REDIS_BATCH):
            yield f"field {field!r} name", _raw(field)
            yield f"field {field!r}", _raw(value)
    elif kind == "list":
        length: int = client.llen(key)
        for start in range(0, length, _REDIS_BATCH):
            items: list[Any] = client.lrange(key, start, start + _REDIS_BATCH - 1)
            for index, item in enumerate(items):
                yield f"item {start + index}", _raw(item)
    elif kind == "set":
        for member in client.sscan_iter(key, count=_REDIS_BATCH):
            yield "member", _raw(member)
    elif kind == "zset":
        for member, _score in client.zscan_iter(key, count=_REDIS_BATCH):
            yield "member", _raw(member)
    elif kind == "stream":
        yield from _stream(client, key)


def _stream(client: Redis, key: bytes) -> Iterator[tuple[str, bytes]]:
    last: Any = b"-"
    while True:
        batch: list[Any] = client.xrange(key, min=last, count=_REDIS_BATCH)  # type: ignore[assignment]
        entries = [entry for entry in batch if entry[0] != last]
        if not entries:
            break
        for entry_id, fields in entries:
            for field, value in fields.items():
                yield f"entry {entry_id!r} field {field!r}", _raw(field) + b"\n" + _raw(value)
        last = entries[-1][0]
    groups: list[Any] = client.xinfo_groups(key)
    for group in groups:
        yield "consumer group", _raw(group["name"])


def redis(client: Redis) -> Iterator[Blob]:
    """Every key of every database: its name, its DUMP payload (Redis's own
    serialisation, LZF-compressed strings included) and every part of its value."""
    for number, db in _databases(client):
        for key in db.scan_iter(count=_REDIS_BATCH):
            kind = _raw(db.type(key)).decode()
            if kind == "none":
                continue  # expired since listed
            where = f"redis db{number} {kind} {key!r}"
            yield Blob(f"{where} (key name)", _raw(key))
            dumped = _raw(db.dump(key))
            if dumped:
                yield Blob(f"{where} (DUMP payload)", dumped, rdb=True)
            for part, data in _members(db, key, kind):
                if data:
                    yield Blob(f"{where} {part}", data)


def journal(source: Path | bytes) -> Blob:
    """The systemd journal, every field of every entry (`journalctl -o export` undoes the
    journal's own compression): from a journal directory, or that output already read."""
    if isinstance(source, bytes):
        return Blob("systemd journal", source)
    exported = subprocess.run(  # nosec B603: fixed argv
        ["journalctl", "--no-pager", "--directory", str(source), "-o", "export"],
        capture_output=True,
        check=True,
        timeout=300,
    )
    return Blob(f"systemd journal in {source}", exported.stdout)
