"""Per-account OpenPGP keys and encrypted case notes.

A note's text exists on the server only as OpenPGP ciphertext, sealed to every account
allowed to read it and to the submission key (so the air-gapped workstation can always
read the case file). An account's secret key sits in the server keyring locked by a
passphrase derived from the account's login passphrase; the derived value lives only in
that account's sealed server-side session. A database dump (plus the keyring) without
login passphrases reveals no note.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow

if TYPE_CHECKING:
    from vault.models.reviewer import Reviewer

FINGERPRINT_LENGTH = 64
SALT_LENGTH = 64


class AccountKey(Base):
    """The current OpenPGP keypair of a reviewer account (one per account)."""

    __tablename__ = "account_keys"

    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_LENGTH), unique=True)
    # Random, per key: the key passphrase is HMAC(salt, login passphrase).
    salt: Mapped[str] = mapped_column(String(SALT_LENGTH))
    # The armored public half: the source interface, whose GnuPG home is not the
    # reviewer interface's, imports it from here to seal care requests to the account.
    # NULL: made before the homes were split (each home got a copy of it then).
    public_key: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseNote(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    # Whom `ciphertext` is sealed to: canonical_recipients() of the fingerprints (sorted,
    # joined by ","). NULL: sealed before this was recorded (unknown). Re-sealing
    # (vault.services.notes) rewrites ciphertext, size and this together.
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # Shown beside the note (who wrote it); None once the account is removed.
    author: Mapped[Reviewer | None] = relationship()


def canonical_recipients(fingerprints: Iterable[str]) -> str:
    """The stored form of a recipient set: sorted upper-case fingerprints joined by ","."""
    return ",".join(sorted({fp.upper() for fp in fingerprints}))
