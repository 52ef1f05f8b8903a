from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Enum, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow

USERNAME_MAX = 64
# "v1:" and base64 of a 12-byte nonce, a 32-character base32 secret and a 16-byte tag
# (83 characters); room to spare for a longer secret.
OTP_SEALED_MAX = 128


class Role(enum.Enum):
    ANALYST = "analyst"
    PARTNER = "partner"
    ADMIN = "admin"


class Reviewer(Base):
    """A WWoW analyst, partner professional or admin of the reviewer interface."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    passphrase_hash: Mapped[str] = mapped_column(String(255))
    # The TOTP secret, sealed with the instance's column key (AES-GCM, vault.column_key),
    # never in clear: read and written through vault.services.reviewers (`totp_secret`).
    otp_secret_sealed: Mapped[str] = mapped_column(String(OTP_SEALED_MAX))
    # Highest TOTP time-step accepted so far: a code at or below it is a replay.
    last_totp_step: Mapped[int] = mapped_column(default=0)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, validate_strings=True), default=Role.ANALYST
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    # Raised by each deactivation: sessions and API tokens carry a stamp derived from it
    # (vault.services.reviewers.credential_stamp), so reactivation never revives them.
    credential_generation: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # On the care team's duty (analysts and admins only; vault.services.care): care
    # requests are sealed to the on-duty accounts' keys.
    on_care_duty: Mapped[bool] = mapped_column(default=False, server_default=false())
    # One of WWoW's legal advisers (analysts and admins only; vault.services.guidance):
    # partner investigators' legal questions are sealed to them and they answer.
    legal_adviser: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN
