from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow

HASH_LENGTH = 64


class CustodyReceipt(Base):
    """One link of the server's append-only, signed, hash-chained custody log.

    No foreign key to the submission or reply it describes: a receipt outlives the file
    (deletion removes the file and its row, never a link of the chain, which would then
    show a gap). `body` is the canonical JSON that was signed, byte for byte; the other
    columns repeat some of its fields for lookups only and are never trusted by a
    verifier. `sealed_manifest` is OpenPGP ciphertext (to the submission key) of the
    plaintext's name, media type, size and SHA-256; the body holds its SHA-256.
    """

    __tablename__ = "custody_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: two concurrent appends can never both take the same place in the chain.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    object_uuid: Mapped[str] = mapped_column(String(36), index=True)
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    sealed_manifest: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
