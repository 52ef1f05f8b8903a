"""The partner network: organisations, their member accounts, referrals of cases, and
the sealed messages exchanged over a referral.

Directory entries are professional contact details, not case content. An organisation's
name and services are in clear (the directory is sorted and filtered on them, referrals
and partner accounts join on the organisation); its regions, languages and contact
details are sealed with the instance's column key (vault.column_key), opened only to be
shown. Everything said about a case (referral messages) is OpenPGP ciphertext only.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, Enum, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, utcnow
from vault.models.case import Case
from vault.models.source import Source

NAME_MAX = 128
SERVICES_MAX = 64
REGIONS_MAX = 255
LANGUAGES_MAX = 128
CONTACT_MAX = 500


class PartnerService(enum.Enum):
    MEDICAL = "medical"
    PSYCHOSOCIAL = "psychosocial"
    LEGAL = "legal"
    SHELTER = "shelter"


class ReferralStatus(enum.Enum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DECLINED = "declined"


class PartnerOrg(Base):
    __tablename__ = "partner_orgs"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    # Comma-separated PartnerService values, in enum order.
    services: Mapped[str] = mapped_column(String(SERVICES_MAX))
    # Regions, languages and contact as JSON, sealed with the column key and bound to the
    # organisation's uuid (vault.services.partners.org_details); NULL: none given.
    details_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def service_list(self) -> list[PartnerService]:
        return [PartnerService(s) for s in self.services.split(",") if s]


class PartnerMember(Base):
    """A partner account belongs to one organisation (and sees that org's referrals)."""

    __tablename__ = "partner_members"

    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("partner_orgs.id", ondelete="CASCADE"), index=True
    )


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (UniqueConstraint("case_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("partner_orgs.id", ondelete="CASCADE"), index=True
    )
    # The one source whose consent was attested: a partner replies to this source only.
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    status: Mapped[ReferralStatus] = mapped_column(
        Enum(ReferralStatus, native_enum=False, length=16, validate_strings=True),
        default=ReferralStatus.PROPOSED,
    )
    # The server cannot read the source's consents (they are sealed in the report): an
    # analyst who read them on the workstation attests them here, by name and time.
    consent_attested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="SET NULL")
    )
    consent_attested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Attested separately: consent to be contacted by the partner through BackUp.
    contact_consented: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship()
    org: Mapped[PartnerOrg] = relationship()
    source: Mapped[Source] = relationship()


class ReferralMessage(Base):
    __tablename__ = "referral_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id", ondelete="SET NULL"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(BigInteger)
    # Canonical recipient fingerprints (see vault.models.note.canonical_recipients);
    # NULL: sealed before this was recorded. Re-sealing keeps it with the ciphertext.
    recipients: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
