"""Prefill an incident record from a decrypted report, so the analyst confirms or edits
what the source already chose rather than typing it again.

An ALERT report gives acts, date, place, victims, perpetrators and who is reporting; an
ASSIST request only the place. Where the report's answers do not map one to one (several
sexes or age bands for one count of victims, no count, an ongoing situation), the
prefill makes a cautious choice and says so in `review`: the analyst settles it. A plain
message gives nothing: it is coded by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workstation.observatory.model import Act, IncidentDate, Place, VictimGroup
from workstation.observatory.vocabulary import SOURCE_TYPES, UNKNOWN

__all__ = ["Prefill", "prefill_from_report"]


@dataclass
class Prefill:
    date: IncidentDate | None = None
    place: Place | None = None
    acts: tuple[Act, ...] = ()
    source_type: str | None = None
    review: list[str] = field(default_factory=list)


def _victims(victims: Mapping[str, Any], review: list[str]) -> tuple[VictimGroup, ...]:
    count = victims.get("count")
    sexes = list(victims.get("sex") or [])
    bands = list(victims.get("age_bands") or [])
    sex = sexes[0] if len(sexes) == 1 else UNKNOWN
    band = bands[0] if len(bands) == 1 else UNKNOWN
    if count is None:
        count = max(1, len(sexes), len(bands))
        review.append(f"victims: the report gives no number; {count} assumed")
    if len(sexes) > 1 and count == len(sexes) and len(bands) <= 1:
        # One victim of each sex named: the only reading of the answers.
        return tuple(VictimGroup(s, band, 1) for s in sexes)
    if len(sexes) > 1 or len(bands) > 1:
        review.append(
            f"victims: the report names {', '.join(sexes + bands)} for {count} victim(s): "
            "split them by sex and age band with --victims"
        )
    return (VictimGroup(sex, band, int(count)),)


def _date(when: Mapping[str, Any], received_on: dt.date | None, review: list[str]) -> IncidentDate:
    date = IncidentDate.parse(str(when["date"]))
    if when.get("ongoing"):
        end = received_on or dt.date.today()
        date = IncidentDate.parse(f"{date.start.isoformat()}/{end.isoformat()}")
        review.append("date: ongoing when reported; coded as a range up to the report's arrival")
    return date


def prefill_from_report(
    document: Mapping[str, Any], *, received_on: dt.date | None = None
) -> Prefill:
    """What a report document (as `vault.reports.loads` returns it) says of an incident."""
    kind = document.get("kind")
    out = Prefill()
    body = document.get(str(kind)) or {}
    where = body.get("where") or {}
    if where.get("country"):
        out.place = Place(str(where["country"]), where.get("region"))
    if kind != "alert":
        return out
    when = body.get("when") or {}
    if when.get("date"):
        out.date = _date(when, received_on, out.review)
    reporter = body.get("reporter")
    out.source_type = reporter if reporter in SOURCE_TYPES else None
    victims = _victims(body.get("victims") or {}, out.review)
    perpetrators = tuple((body.get("perpetrators") or {}).get("categories") or ()) or (UNKNOWN,)
    out.acts = tuple(Act(str(c), victims, perpetrators) for c in body.get("violence") or ())
    if len(out.acts) > 1:
        out.review.append(
            "acts: the same victims are coded under each act the report names; "
            "adjust per act if the account says otherwise"
        )
    return out
