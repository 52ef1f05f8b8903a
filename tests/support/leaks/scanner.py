"""The one entry point: search every place given for every marker, in every form."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import Engine

from tests.support.leaks import places
from tests.support.leaks.search import BlobSearch, Hit
from tests.support.leaks.streams import Budget


class IncompleteScanError(AssertionError):
    """Something could not be examined fully: the scan proves nothing about it."""


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


class LeakScanner:
    """Searches for plaintext markers wherever the server writes.

    Each marker is searched for in every form a leak can take (see forms.py and
    streams.py), in every place given to `scan`:

    - `files`: files or directories, searched through;
    - `engine`: a database, every cell of every table; for SQLite also its file with the
      -wal/-shm/-journal beside it; for PostgreSQL also a pg_dump of the whole database;
    - `redis`: a Redis server, every key of every type in every database, with its DUMP
      payload;
    - `journal`: a systemd journal directory, or `journalctl -o export` output;
    - `blobs`: anything else already read (name -> bytes), e.g. a dump taken elsewhere.
    """

    def __init__(self, *markers: str) -> None:
        self.markers = markers
        BlobSearch(markers, Budget())  # rejects an empty list or a too-short marker now

    def _blobs(
        self,
        files: Iterable[Path],
        engines: list[Engine],
        redises: list[Redis],
        journal: Path | bytes | None,
        blobs: dict[str, bytes],
        incomplete: list[str],
    ) -> Iterator[places.Blob]:
        roots = list(files)
        for engine in engines:
            roots.extend(places.sqlite_files(engine))
        yield from places.files(roots, incomplete)
        for engine in engines:
            yield from places.rows(engine)
            if engine.dialect.name == "postgresql":
                yield places.pg_dump(engine)
        for client in redises:
            yield from places.redis(client)
        if journal is not None:
            yield places.journal(journal)
        for name, data in blobs.items():
            yield places.Blob(name, data, rdb=data.startswith(b"REDIS"))

    def scan(
        self,
        *,
        files: Iterable[Path] = (),
        engine: Engine | Iterable[Engine] | None = None,
        redis: Redis | Iterable[Redis] | None = None,
        journal: Path | bytes | None = None,
        blobs: dict[str, bytes] | None = None,
    ) -> list[Hit]:
        """Every hit, at most one per marker and place; raises IncompleteScanError if any
        part could not be examined."""
        budget = Budget()
        search = BlobSearch(self.markers, budget)
        hits: list[Hit] = []
        for blob in self._blobs(
            files, _many(engine), _many(redis), journal, blobs or {}, budget.incomplete
        ):
            hits.extend(search.search(blob.data, blob.place, rdb=blob.rdb))
        if budget.incomplete:
            shown = "\n".join(budget.incomplete[:20])
            more = len(budget.incomplete) - 20
            raise IncompleteScanError(
                f"not examined fully:\n{shown}" + (f"\n... and {more} more" if more > 0 else "")
            )
        return hits


def assert_no_leak(
    markers: str | Iterable[str],
    *,
    files: Iterable[Path] = (),
    engine: Engine | Iterable[Engine] | None = None,
    redis: Redis | Iterable[Redis] | None = None,
    journal: Path | bytes | None = None,
    blobs: dict[str, bytes] | None = None,
) -> None:
    """Fails, naming each place and form, if any marker is found in any place given."""
    wanted = (markers,) if isinstance(markers, str) else tuple(markers)
    hits = LeakScanner(*wanted).scan(
        files=files, engine=engine, redis=redis, journal=journal, blobs=blobs
    )
    assert not hits, "plaintext found:\n" + "\n".join(str(hit) for hit in hits)
