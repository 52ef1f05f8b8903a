"""When a reviewer last looked at a referral: what changed since is "new" for them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow


class ReferralSeen(Base):
    """One row per reviewer and referral, moved forward at each view of the referral.

    The dashboard counts against it, without content: a status changed by someone else,
    partner messages and partner replies to the source since then."""

    __tablename__ = "referral_seen"

    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True
    )
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("reviewers.id", ondelete="CASCADE"), primary_key=True
    )
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
