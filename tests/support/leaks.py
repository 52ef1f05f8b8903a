"""Search every place the server writes for a plaintext marker.

Used after end-to-end walks: the marker must appear nowhere on the server side — not in
files (store, database files, logs, temp directory), not in the database's rows, not in
any Redis value.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path

from redis import Redis
from sqlalchemy import Engine, inspect, text


def _encodings(marker: str) -> list[bytes]:
    raw = marker.encode("utf-8")
    return [
        raw,
        marker.encode("utf-16-le"),
        base64.b64encode(raw)[:-4],  # inside a larger base64 blob, the start survives
        raw.hex().encode(),
    ]


def files_containing(marker: str, roots: Iterable[Path]) -> list[Path]:
    needles = _encodings(marker)
    hits = []
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else list(root.rglob("*"))
        for path in paths:
            try:
                if not path.is_file() or path.is_symlink():
                    continue
                data = path.read_bytes()
            except (PermissionError, FileNotFoundError, OSError):
                continue
            if any(needle in data for needle in needles):
                hits.append(path)
    return hits


def rows_containing(marker: str, engine: Engine) -> list[str]:
    hits = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                if any(marker in str(value) for value in row):
                    hits.append(table)
    return hits


def redis_values_containing(marker: str, redis: Redis) -> list[bytes]:
    needles = _encodings(marker)
    hits = []
    for key in redis.scan_iter(count=1000):
        blob = key + (redis.dump(key) or b"")
        kind = redis.type(key)
        if kind == b"string":
            blob += redis.get(key) or b""
        elif kind == b"hash":
            blob += b"".join(k + v for k, v in redis.hgetall(key).items())
        elif kind == b"list":
            blob += b"".join(redis.lrange(key, 0, -1))
        elif kind == b"set":
            blob += b"".join(redis.smembers(key))
        elif kind == b"zset":
            blob += b"".join(m for m, _ in redis.zrange(key, 0, -1, withscores=True))
        if any(needle in blob for needle in needles):
            hits.append(key)
    return hits
