"""Statistics releases imported from the workstation (docs/observatory.md).

A release is made and signed on the air-gapped workstation; the server keeps, for each
one imported, the signed bytes exactly as received (so it can be verified again at any
time) and its metadata as columns (what the lists show and filter on). The document
holds counts only: no incident, source or text."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, utcnow


class ObservatoryRelease(Base):
    __tablename__ = "observatory_releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The release's own id (its document's "id"): one import per release.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    created: Mapped[str] = mapped_column(String(32))  # as the document states it
    method_k: Mapped[int]
    dimensions: Mapped[str] = mapped_column(String(200))  # comma-separated names
    countries: Mapped[str] = mapped_column(String(200))  # comma-separated ISO 3166-1
    first_month: Mapped[str] = mapped_column(String(7))
    last_month: Mapped[str] = mapped_column(String(7))
    period_unit: Mapped[str] = mapped_column(String(8))
    records: Mapped[int]  # incidents behind the release (noisy when records_noisy)
    records_noisy: Mapped[bool]
    suppressed_primary: Mapped[int]
    suppressed_complementary: Mapped[int]
    entries: Mapped[int]
    dp_epsilon: Mapped[float | None] = mapped_column(Float)
    dp_contribution_cap: Mapped[int | None]
    signer_fingerprint: Mapped[str] = mapped_column(String(64))
    # Another organisation's release (its federation identity), checked against the key
    # pinned for it; None for this instance's own releases (migration 0022).
    origin: Mapped[str | None] = mapped_column(String(128), index=True)
    # Exactly the bytes signed and the detached signature: verifiable again.
    document: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="SET NULL")
    )
    published_at: Mapped[dt.datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviewers.id", ondelete="SET NULL")
    )

    @property
    def published(self) -> bool:
        return self.published_at is not None
