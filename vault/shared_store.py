"""The sealed store's shared copy in PostgreSQL, for several servers behind one address.

Each server keeps writing sealed files into its own store directory exactly as a single
server does (vault.store); with a `SharedStore` the store also copies each one into
`sealed_blobs`/`sealed_blob_chunks` (vault.models.sealed_blob) in the caller's
transaction, the one that records the submission or reply: the row and its ciphertext
commit together or not at all, and an acknowledged submission is in the database (on
the synchronous standby too, docs/cluster.md). A server asked for a file it does not
have fetches it from here into its directory, which is thereby a cache.

Only SQLAlchemy Core on the two tables: the domain needs no driver of its own. Reads
and deletions use the engine's own connections (they follow no caller's transaction);
the copy uses the caller's session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import StoreError
from vault.models.sealed_blob import CHUNK_BYTES, SealedBlob, SealedBlobChunk

__all__ = ["CHUNK_BYTES", "SharedStore"]


class SharedStore:
    """Sealed files by (source uuid, file name), in the database `engine` reaches."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise StoreError("the shared sealed store needs PostgreSQL")
        self.engine = engine

    def put(self, db: Session, source_uuid: str, filename: str, path: Path) -> str:
        """Copy the sealed file at `path` in `db`'s transaction; its SHA-256.

        Read from the file the store just fsynced, a chunk at a time; nothing is
        committed here (the caller's commit makes it visible to every server).
        """
        blob_id = db.execute(
            insert(SealedBlob)
            .values(
                source_uuid=source_uuid,
                filename=filename,
                size=0,
                sha256="",
                created_at=utcnow(),
            )
            .returning(SealedBlob.id)
        ).scalar_one()
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            n = 0
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                db.execute(insert(SealedBlobChunk).values(blob_id=blob_id, n=n, data=chunk))
                n += 1
        sha256 = digest.hexdigest()
        db.execute(
            update(SealedBlob).where(SealedBlob.id == blob_id).values(size=size, sha256=sha256)
        )
        return sha256

    def copy_into(self, source_uuid: str, filename: str, out: BinaryIO) -> bool:
        """Write the file's ciphertext to `out`; False if there is none. StoreError if
        what was read does not match its recorded size and SHA-256.

        One statement (one snapshot: a deletion committing meanwhile is not seen half
        done), its chunks streamed in order rather than loaded at once.
        """
        query = (
            select(SealedBlob.size, SealedBlob.sha256, SealedBlobChunk.data)
            .join(SealedBlobChunk, SealedBlobChunk.blob_id == SealedBlob.id)
            .where(SealedBlob.source_uuid == source_uuid, SealedBlob.filename == filename)
            .order_by(SealedBlobChunk.n)
        )
        digest = hashlib.sha256()
        size = 0
        expected: tuple[int, str] | None = None
        with self.engine.connect() as conn:
            rows = conn.execution_options(stream_results=True, yield_per=4).execute(query)
            for blob_size, blob_sha256, data in rows:
                expected = (blob_size, blob_sha256)
                digest.update(data)
                size += len(data)
                out.write(data)
        if expected is None:
            return False
        if expected != (size, digest.hexdigest()):
            raise StoreError("the shared copy of a sealed file does not match its record")
        return True

    def delete(self, source_uuid: str, filename: str) -> bool:
        """Remove one file's rows (its chunks with it); False if there were none."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(SealedBlob)
                .where(SealedBlob.source_uuid == source_uuid, SealedBlob.filename == filename)
                .returning(SealedBlob.id)
            ).all()
        return bool(gone)

    def delete_source(self, source_uuid: str) -> int:
        """Remove every file of a source; how many."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(SealedBlob)
                .where(SealedBlob.source_uuid == source_uuid)
                .returning(SealedBlob.id)
            ).all()
        return len(gone)

    def names(self, source_uuid: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.scalars(
                    select(SealedBlob.filename).where(SealedBlob.source_uuid == source_uuid)
                )
            )

    def sweep(self, known: Iterable[tuple[str, str]], cutoff: dt.datetime) -> list[tuple[str, str]]:
        """Remove the files no row refers to (`known`: those that are), made before
        `cutoff`; the (source uuid, file name) of each removed.

        A copy commits with its row, so an unknown one is the copy of a row deleted
        while its copy could not be (the database lost mid-deletion, say).
        """
        keep = set(known)
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(SealedBlob.source_uuid, SealedBlob.filename).where(
                    SealedBlob.created_at < cutoff
                )
            ).all()
        removed = []
        for source_uuid, filename in stored:
            if (source_uuid, filename) not in keep and self.delete(source_uuid, filename):
                removed.append((source_uuid, filename))
        return removed
