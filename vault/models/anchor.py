from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow
from vault.models.receipt import HASH_LENGTH


class ChainAnchor(Base):
    """An RFC 3161 time-stamp of one chain's head (vault.services.anchors).

    `token` is the time-stamp response as the TSA sent it (DER), covering the SHA-256 of
    `vault.ports.anchor_message(chain, seq, hash)`; `gen_time` repeats the time inside it
    for lookups only (a verifier reads the token). It proves the chain up to `seq`
    existed at that time, whatever happens to this database afterwards.
    """

    __tablename__ = "chain_anchors"
    __table_args__ = (UniqueConstraint("chain", "seq", "tsa"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(16))  # "custody" or "audit"
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    tsa: Mapped[str] = mapped_column(String(64))
    gen_time: Mapped[dt.datetime]
    token: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
