"""Observatory releases made and signed with the real workstation code and real gpg,
for the tests of the server side (import, publish, early warning, public page)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from workstation.observatory.release import ReleaseSpec, build_release, canonical
from workstation.observatory.release_input import ReleaseRow
from workstation.observatory.release_sign import sign_release


def row(n: int, month: int, region: str, **over: Any) -> ReleaseRow:
    base: dict[str, Any] = {
        "incident_id": f"i{n}",
        "date": dt.date(2025, month, 1),
        "precision": "month",
        "country": "CD",
        "region": region,
        "acts": ("rape",),
        "victim_sex": "female",
        "age_band": "18-29",
        "victim_count": 1,
        "perpetrator": "armed_group",
        "consent_statistics": True,
    }
    base.update(over)
    return ReleaseRow(**base)


def rising_rows() -> list[ReleaseRow]:
    """Nord-Kivu: 5 incidents a month January to March, 15 in April (+200%); Sud-Kivu:
    6 every month (no rise)."""
    rows: list[ReleaseRow] = []
    counts = {"CD-NK": [5, 5, 5, 15], "CD-SK": [6, 6, 6, 6]}
    for region, per_month in counts.items():
        for month, count in enumerate(per_month, 1):
            for _ in range(count):
                rows.append(row(len(rows), month, region))
    return rows


RISING_SPEC = ReleaseSpec(
    dimensions=("period", "region", "act"),
    first_month="2025-01",
    last_month="2025-04",
    countries=("CD",),
)


def signed_release(
    key: tuple[GeneratedKey, Path],
    rows: list[ReleaseRow] | None = None,
    spec: ReleaseSpec = RISING_SPEC,
) -> tuple[dict[str, Any], bytes, bytes]:
    """(document, canonical bytes, detached signature) by the submission key."""
    generated, home = key
    document = build_release(rising_rows() if rows is None else rows, spec).document
    data, signature = sign_release(document, home, generated.fingerprint, SUBMISSION_PASSPHRASE)
    return document, data, signature


def tampered(document: dict[str, Any]) -> bytes:
    """The document with one shown count raised by one (its totals left as signed)."""
    forged = json.loads(json.dumps(document))
    entry = next(e for e in forged["entries"] if e["value"] and "*" in e["key"])
    entry["value"] += 1
    return canonical(forged)
