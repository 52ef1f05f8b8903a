"""Observatory releases on the server: import (verified), keep, publish, early warning.

A release is made and signed on the air-gapped workstation (`workstation.observatory`,
docs/observatory.md) with the submission key. vault never imports the workstation
package: checking a signature and a document is done by a `Verifier` the caller hands
in (the reviewer app and `backupctl` pass `workstation.observatory.release_sign.
verify_release`, which needs nothing but gpg and the public key). Here we keep what was
verified, with its metadata, and decide who sees what:

- analysts and admins see every release; partners only those an admin published;
- the public page (source app, off by default) shows only published releases.

Audit events hold identifiers only: the release id, never a figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import NotFoundError, VaultError
from vault.models import ObservatoryRelease, Reviewer, Role
from vault.services.audit import record, record_refusal

__all__ = [
    "MAX_RELEASE_BYTES",
    "EarlyWarning",
    "RegionWarning",
    "ReleaseRefusedError",
    "Verifier",
    "document_of",
    "early_warnings",
    "get_release",
    "import_release",
    "publish",
    "region_series",
    "visible_releases",
    "warnings_for",
]

# A release of 100,000 rows by four dimensions is ~0.5 MB; more is not a release.
MAX_RELEASE_BYTES = 4 * 1024 * 1024
# (signed bytes, detached signature, armored public key) -> the verified document;
# raises ValueError (the workstation's ReleaseError) when anything is off.
Verifier = Callable[[bytes, bytes, str | bytes], dict[str, Any]]


class ReleaseRefusedError(VaultError):
    """The release was not imported: `reason` is "too_large", "verification" (the
    signature or the document did not check out: the message says which), "origin"
    (another organisation's release that does not state it is theirs) or "duplicate"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def import_release(
    db: Session,
    actor: Reviewer | None,
    data: bytes,
    signature: bytes,
    *,
    public_key: str | bytes,
    signer_fingerprint: str,
    verify: Verifier,
    origin: str | None = None,
) -> ObservatoryRelease:
    """Verify `data` + `signature` against the submission public key and keep it.

    `origin`: another organisation's release for the federation (an observatory
    gathering them to combine): `public_key` is then the key pinned for that
    organisation, and the release must state that it is that organisation's.

    Refused (ReleaseRefusedError, audited without any content) when the signature is bad
    or by another key, the document is not canonical or does not add up, or the
    release is already here. The caller commits."""
    if len(data) > MAX_RELEASE_BYTES or len(signature) > 64 * 1024:
        _refused(db, actor, "too_large")
        raise ReleaseRefusedError("too_large", "this file is too large to be a release")
    try:
        document = verify(data, signature, public_key)
    except ValueError as exc:
        _refused(db, actor, "verification")
        raise ReleaseRefusedError("verification", str(exc)) from exc
    if origin is not None and (document.get("federation") or {}).get("organisation") != origin:
        _refused(db, actor, "origin")
        raise ReleaseRefusedError("origin", f"this is not a release for the federation by {origin}")
    release_id = str(document["id"])
    if db.scalar(select(ObservatoryRelease.id).where(ObservatoryRelease.uuid == release_id)):
        _refused(db, actor, "duplicate")
        raise ReleaseRefusedError("duplicate", "this release was already imported")
    method = document["method"]
    scope = document["scope"]
    dp = method.get("differential_privacy") or None
    release = ObservatoryRelease(
        uuid=release_id,
        created=str(document["created"]),
        method_k=int(method["k"]),
        dimensions=",".join(d["name"] for d in document["dimensions"]),
        countries=",".join(scope["countries"]),
        first_month=scope["first_month"],
        last_month=scope["last_month"],
        period_unit=scope["period_unit"],
        records=int(document["records"]),
        records_noisy=bool(document["records_noisy"]),
        suppressed_primary=int(document["suppression"]["primary"]),
        suppressed_complementary=int(document["suppression"]["complementary"]),
        entries=int(document["suppression"]["entries"]),
        dp_epsilon=float(dp["epsilon"]) if dp else None,
        dp_contribution_cap=int(dp["contribution_cap"]) if dp else None,
        signer_fingerprint=signer_fingerprint.upper(),
        origin=origin,
        document=data,
        signature=signature,
        imported_by_id=actor.id if actor is not None else None,
    )
    db.add(release)
    db.flush()
    detail = {"release": release_id, "signer": signer_fingerprint.upper()}
    if origin is not None:
        detail["origin"] = origin  # another organisation's release
    record(db, actor, "observatory_release_imported", "observatory_release", release_id, detail)
    return release


def _refused(db: Session, actor: Reviewer | None, reason: str) -> None:
    # Kept through the rollback of the request or command the refusal fails.
    record_refusal(
        db, actor, "observatory_release_refused", "observatory_release", None, {"refusal": reason}
    )


def can_see_all(reviewer: Reviewer) -> bool:
    return reviewer.role in (Role.ANALYST, Role.ADMIN)


def visible_releases(db: Session, reviewer: Reviewer | None) -> list[ObservatoryRelease]:
    """Newest first: every release for analysts and admins; published ones for partners
    and for the public (`reviewer` None)."""
    query = select(ObservatoryRelease).order_by(
        ObservatoryRelease.created.desc(), ObservatoryRelease.id.desc()
    )
    if reviewer is None or not can_see_all(reviewer):
        query = query.where(ObservatoryRelease.published_at.is_not(None))
    return list(db.scalars(query))


def get_release(db: Session, reviewer: Reviewer | None, release_uuid: str) -> ObservatoryRelease:
    """The release, if `reviewer` may see it (NotFoundError otherwise: a partner is not
    told that an unpublished release exists)."""
    release = db.scalar(select(ObservatoryRelease).where(ObservatoryRelease.uuid == release_uuid))
    if release is None:
        raise NotFoundError("no such release")
    if not release.published and (reviewer is None or not can_see_all(reviewer)):
        raise NotFoundError("no such release")
    return release


def publish(db: Session, actor: Reviewer, release: ObservatoryRelease, published: bool) -> bool:
    """Publish the release to partners (or withdraw it); audited when it changes.
    True if something changed. Admins only (the caller checks the role too)."""
    if not actor.is_admin:
        raise PermissionError("admins only")
    if release.published == published:
        return False
    release.published_at = utcnow() if published else None
    release.published_by_id = actor.id if published else None
    record(
        db,
        actor,
        "observatory_release_published" if published else "observatory_release_withdrawn",
        "observatory_release",
        release.uuid,
        {"field": "published", "from": not published, "to": published},
    )
    return True


def document_of(release: ObservatoryRelease) -> dict[str, Any]:
    """The release's document (verified when it was imported)."""
    document: dict[str, Any] = json.loads(release.document.decode("utf-8"))
    return document


# --- Early warning -------------------------------------------------------------------


@dataclass(frozen=True)
class RegionWarning:
    """A region whose latest count rose past the threshold over its baseline."""

    region: str
    period: str
    latest: int
    baseline: float  # mean of the previous periods' counts
    rise_percent: int | None  # None: the baseline is zero
    release: str  # the release the latest count comes from


@dataclass(frozen=True)
class EarlyWarning:
    warnings: list[RegionWarning]
    period: str | None  # the latest period seen in the releases
    assessed: int  # regions with a shown latest count and a full shown baseline
    not_assessed: int  # regions left out: a suppressed or missing count
    rise_percent: int
    periods: int


Series = dict[tuple[str, str], tuple[int | None, str]]  # (region, period) -> (value, release)


def region_series(documents: Iterable[dict[str, Any]]) -> Series:
    """Victims per (region, month) from monthly releases with period and region
    dimensions: the entry with every other dimension summed over. When two releases
    cover the same month and region, the one created last wins (a revision). A
    suppressed count is None."""
    out: dict[tuple[str, str], tuple[str, int | None, str]] = {}
    for doc in documents:
        dims = [d["name"] for d in doc["dimensions"]]
        if doc["scope"]["period_unit"] != "month" or "period" not in dims or "region" not in dims:
            continue
        total = doc["method"]["total_marker"]
        at_p, at_r = dims.index("period"), dims.index("region")
        for entry in doc["entries"]:
            key = entry["key"]
            if key[at_p] == total or key[at_r] == total or key[at_r] == "unknown":
                continue
            if any(v != total for i, v in enumerate(key) if i not in (at_p, at_r)):
                continue
            cell = (key[at_r], key[at_p])
            if cell not in out or out[cell][0] < doc["created"]:
                out[cell] = (doc["created"], entry["value"], doc["id"])
    return {cell: (value, rid) for cell, (_c, value, rid) in out.items()}


def _previous_months(month: str, count: int) -> list[str]:
    year, mon = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(count):
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
        out.append(f"{year:04d}-{mon:02d}")
    return out


def early_warnings(
    documents: Sequence[dict[str, Any]], *, rise_percent: int, periods: int
) -> EarlyWarning:
    """Flag each region whose count in the latest month is at least `rise_percent`
    percent above the mean of its `periods` previous months (or above zero when that
    mean is zero).

    Suppressed counts are never used as numbers: a region whose latest count, or any
    of its baseline counts, is suppressed (or not covered by any release) is not
    assessed at all, and counted as such; it is neither flagged nor cleared."""
    series = region_series(documents)
    months = {period for _region, period in series}
    if not months:
        return EarlyWarning([], None, 0, 0, rise_percent, periods)
    latest = max(months)
    baseline_months = _previous_months(latest, periods)
    regions = sorted({region for region, _p in series})
    warnings: list[RegionWarning] = []
    assessed = not_assessed = 0
    for region in regions:
        now = series.get((region, latest))
        before = [series.get((region, m)) for m in baseline_months]
        if now is None or now[0] is None or any(b is None or b[0] is None for b in before):
            not_assessed += 1
            continue
        assessed += 1
        value = now[0]
        base = [b[0] for b in before if b is not None and b[0] is not None]
        mean = sum(base) / len(base)
        if mean == 0:
            if value > 0:
                warnings.append(RegionWarning(region, latest, value, 0.0, None, now[1]))
            continue
        rise = (value - mean) * 100 / mean
        if rise >= rise_percent:
            warnings.append(RegionWarning(region, latest, value, mean, round(rise), now[1]))
    warnings.sort(key=lambda w: (w.rise_percent is not None, -(w.rise_percent or 0), w.region))
    return EarlyWarning(warnings, latest, assessed, not_assessed, rise_percent, periods)


def warnings_for(
    db: Session, reviewer: Reviewer | None, *, rise_percent: int, periods: int
) -> EarlyWarning:
    """The early warning over the releases `reviewer` may see."""
    documents = [document_of(r) for r in visible_releases(db, reviewer)]
    return early_warnings(documents, rise_percent=rise_percent, periods=periods)
