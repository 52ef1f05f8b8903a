"""What a release counts: one de-duplicated incident-victim-group row.

The incident coding (on the workstation) turns each coded incident into one row per
group of victims (same sex and age band); several reports of one incident have been
linked before, so an incident appears once. A release sees these rows only: no text,
no place finer than a first-level region, no source, no report number. `incident_id`
is opaque (it joins the rows of one incident and lets the workstation's release ledger
tell which incidents two releases share); it never leaves the workstation.

Vocabularies are those of the source's report (`vault.reports`): the International
Protocol's acts, sex, age band, perpetrator category; a value the source or the analyst
did not know is None (sex, age band) or "unknown" (perpetrator). A test checks these
Literal types against `vault.reports` so that the two never drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from vault.reports import AGE_BANDS, PERPETRATORS, SEXES, VIOLENCE

__all__ = [
    "ACTS",
    "AGE_BANDS",
    "PERPETRATORS",
    "PRECISIONS",
    "SEXES",
    "Act",
    "AgeBand",
    "Perpetrator",
    "Precision",
    "ReleaseRow",
    "RowError",
    "Sex",
    "row_from_json",
    "row_to_json",
]

Act = Literal[
    "rape",
    "sexual_slavery",
    "forced_prostitution",
    "forced_pregnancy",
    "enforced_sterilisation",
    "sexual_mutilation_torture",
    "forced_nudity",
    "other",
]
Sex = Literal["female", "male", "other"]
AgeBand = Literal["0-4", "5-11", "12-17", "18-29", "30-49", "50+"]
Perpetrator = Literal["state_forces", "armed_group", "police", "civilians", "unknown"]
# How precisely the date of the incident is known: `date` is its first day (the day, the
# first of the month, the first of January); a range also has `date_end`.
Precision = Literal["day", "month", "year", "range"]

ACTS: tuple[str, ...] = get_args(Act)
PRECISIONS: tuple[str, ...] = get_args(Precision)
if (ACTS, get_args(Sex), get_args(AgeBand), get_args(Perpetrator)) != (
    VIOLENCE,
    SEXES,
    AGE_BANDS,
    PERPETRATORS,
):  # pragma: no cover - the vocabularies of vault.reports changed: update the Literals
    raise ImportError("release_input's vocabularies differ from vault.reports")

_COUNTRY = re.compile(r"[A-Z]{2}")
_REGION = re.compile(r"([A-Z]{2})-[A-Z0-9]{1,3}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_VICTIMS = 10_000  # vault.reports.MAX_COUNT


class RowError(ValueError):
    """A row that is not one of ours (a value outside the vocabulary, a bad code)."""


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    incident_id: str
    date: dt.date
    precision: Precision
    country: str  # ISO 3166-1 alpha-2
    region: str | None  # ISO 3166-2 first-level code of `country`, or None if unknown
    acts: tuple[Act, ...]  # in the order of ACTS, each once, at least one
    victim_sex: Sex | None
    age_band: AgeBand | None
    victim_count: int
    perpetrator: Perpetrator
    consent_statistics: bool
    date_end: dt.date | None = None  # the last day, for precision "range" only

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.incident_id):
            raise RowError("incident_id")
        if self.precision not in PRECISIONS:
            raise RowError("precision")
        if (self.precision == "range") != (self.date_end is not None):
            raise RowError("date_end")
        if self.date_end is not None and self.date_end < self.date:
            raise RowError("date_end")
        if self.precision == "month" and self.date.day != 1:
            raise RowError("date")
        if self.precision == "year" and (self.date.month, self.date.day) != (1, 1):
            raise RowError("date")
        if not _COUNTRY.fullmatch(self.country):
            raise RowError("country")
        if self.region is not None:
            match = _REGION.fullmatch(self.region)
            if match is None or match.group(1) != self.country:
                raise RowError("region")
        if not self.acts or any(a not in ACTS for a in self.acts):
            raise RowError("acts")
        if list(self.acts) != [a for a in ACTS if a in self.acts]:
            raise RowError("acts")
        if self.victim_sex is not None and self.victim_sex not in SEXES:
            raise RowError("victim_sex")
        if self.age_band is not None and self.age_band not in AGE_BANDS:
            raise RowError("age_band")
        if isinstance(self.victim_count, bool) or not 1 <= self.victim_count <= MAX_VICTIMS:
            raise RowError("victim_count")
        if self.perpetrator not in PERPETRATORS:
            raise RowError("perpetrator")
        if not isinstance(self.consent_statistics, bool):
            raise RowError("consent_statistics")

    @property
    def month(self) -> str | None:
        """The year-month key ("2025-03") when the incident is known to the month (a
        day, a month, or a range within one month); None otherwise."""
        if self.precision in ("day", "month"):
            return f"{self.date.year:04d}-{self.date.month:02d}"
        if self.precision == "range" and self.date_end is not None:
            if (self.date.year, self.date.month) == (self.date_end.year, self.date_end.month):
                return f"{self.date.year:04d}-{self.date.month:02d}"
        return None

    @property
    def year(self) -> str | None:
        """The year key ("2025") when the incident is known to the year; None otherwise."""
        if self.date_end is not None and self.date_end.year != self.date.year:
            return None
        return f"{self.date.year:04d}"


def row_to_json(row: ReleaseRow) -> dict[str, Any]:
    """The row as JSON values (dates as ISO 8601, acts as a list)."""
    data = asdict(row)
    data["date"] = row.date.isoformat()
    data["date_end"] = row.date_end.isoformat() if row.date_end else None
    data["acts"] = list(row.acts)
    return data


_FIELDS = frozenset(ReleaseRow.__dataclass_fields__)


def row_from_json(data: Any) -> ReleaseRow:
    """A row from `row_to_json`'s shape; RowError for anything else (an unknown or
    missing field, a wrong type, a value outside the vocabulary)."""
    if not isinstance(data, dict) or set(data) - _FIELDS:
        raise RowError("shape")
    try:
        return ReleaseRow(
            incident_id=str(data["incident_id"]),
            date=dt.date.fromisoformat(data["date"]),
            precision=data["precision"],
            country=data["country"],
            region=data.get("region"),
            acts=tuple(data["acts"]),
            victim_sex=data.get("victim_sex"),
            age_band=data.get("age_band"),
            victim_count=data["victim_count"],
            perpetrator=data["perpetrator"],
            consent_statistics=data["consent_statistics"],
            date_end=dt.date.fromisoformat(data["date_end"]) if data.get("date_end") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RowError):
            raise
        raise RowError("shape") from exc
