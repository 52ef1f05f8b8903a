"""The sealed store's shared copy, for several servers on one PostgreSQL database.

With `BACKUP_STORE=postgresql` (docs/cluster.md, "Sealed store") every sealed file a
server stores is also copied here, in the transaction that records its submission or
reply, so any server can serve it: its local store directory is then a cache. Only
ciphertext is held (the file exactly as the store wrote it), cut into chunks of about
1 MiB so that no row or query holds a whole upload in memory.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow

CHUNK_BYTES = 1024 * 1024


class SealedBlob(Base):
    """One sealed file: named as in the store (`<source uuid>/<file name>`)."""

    __tablename__ = "sealed_blobs"
    __table_args__ = (UniqueConstraint("source_uuid", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The source's uuid, not a key to its row: a file may be written (and its copy
    # made) before its source's row is flushed, and a source's files outlive nothing.
    source_uuid: Mapped[str] = mapped_column(String(36), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SealedBlobChunk(Base):
    """Chunk `n` (from 0) of a sealed file's ciphertext."""

    __tablename__ = "sealed_blob_chunks"

    blob_id: Mapped[int] = mapped_column(
        ForeignKey("sealed_blobs.id", ondelete="CASCADE"), primary_key=True
    )
    n: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
