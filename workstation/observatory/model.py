"""An incident record, coded on the workstation: the HURIDOCS events model, small.

    IncidentRecord (the event: when, where, who told us)
      └── Act (one International Protocol category)
            ├── VictimGroup (sex, age band, how many)
            └── perpetrator categories

A record is built only through `IncidentRecord.build` (or `from_dict`, which calls it),
which checks every field against the closed vocabularies and collects every problem
before refusing: `IncidentInvalidError.problems` names each field and why. The record
also names the reports it was coded from (`SourceLink`: item ids and designations);
those stay on the workstation, sealed with the record, and never reach a release.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import pycountry

from vault.regions import first_level
from vault.reports import EARLIEST_YEAR, MAX_COUNT
from workstation.errors import WorkstationError
from workstation.observatory.vocabulary import (
    ACTS,
    AGE_BANDS,
    PERPETRATORS,
    SEXES,
    SOURCE_TYPES,
    UNKNOWN,
)

__all__ = [
    "MAX_NOTE",
    "Act",
    "DatePrecision",
    "IncidentDate",
    "IncidentInvalidError",
    "IncidentRecord",
    "Place",
    "SourceLink",
    "VictimGroup",
    "check_place",
]

MAX_NOTE = 2_000
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DESIGNATION = re.compile(r"^[a-z0-9_]{1,64}$")


class IncidentInvalidError(WorkstationError):
    """A record that cannot be kept; `problems` names each field and the reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"incident record refused:\n{lines}")


class DatePrecision(enum.StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    RANGE = "range"


def _bounds(text: str) -> tuple[dt.date, dt.date, DatePrecision]:
    """First and last day of `YYYY-MM-DD`, `YYYY-MM` or `YYYY`; ValueError otherwise."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        day = dt.date.fromisoformat(text)
        return day, day, DatePrecision.DAY
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}", text):
        year, month = int(text[:4]), int(text[5:])
        last = calendar.monthrange(year, month)[1]  # ValueError for month 13
        return dt.date(year, month, 1), dt.date(year, month, last), DatePrecision.MONTH
    if re.fullmatch(r"[0-9]{4}", text):
        year = int(text)
        return dt.date(year, 1, 1), dt.date(year, 12, 31), DatePrecision.YEAR
    raise ValueError(text)


@dataclass(frozen=True)
class IncidentDate:
    """When: a day, a month, a year, or a range between two of those; `start` and `end`
    are the first and last day it may have been (both included)."""

    precision: DatePrecision
    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, text: str, *, today: dt.date | None = None) -> IncidentDate:
        """`2024-03-05`, `2024-03`, `2024`, or a range `2024-03/2024-05-02` (also `..`).

        Raises ValueError with a sentence saying what is wrong.
        """
        return _parse_date(text.strip(), today or dt.date.today())

    @classmethod
    def _parse(cls, text: str, today: dt.date) -> IncidentDate:
        parts = re.split(r"/|\.\.", text)
        try:
            if len(parts) == 1:
                start, end, precision = _bounds(parts[0])
            elif len(parts) == 2:
                start, _, _ = _bounds(parts[0].strip())
                _, end, _ = _bounds(parts[1].strip())
                precision = DatePrecision.RANGE
            else:
                raise ValueError(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date: write YYYY-MM-DD, YYYY-MM, YYYY or a range "
                "START/END of those"
            ) from None
        if start > end:
            raise ValueError(f"{text!r}: the range ends before it starts")
        if start.year < EARLIEST_YEAR:
            raise ValueError(f"{text!r}: before {EARLIEST_YEAR}")
        if start > today:
            raise ValueError(f"{text!r}: in the future")
        if precision is DatePrecision.RANGE:
            end = min(end, today)  # "until now": a range never runs into the future
        return cls(precision, start, end)

    @property
    def text(self) -> str:
        """The canonical form (what `parse` reads back)."""
        if self.precision is DatePrecision.DAY:
            return self.start.isoformat()
        if self.precision is DatePrecision.MONTH:
            return self.start.isoformat()[:7]
        if self.precision is DatePrecision.YEAR:
            return self.start.isoformat()[:4]
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def overlap_days(self, other: IncidentDate) -> int:
        """How many days both may have been (0: they cannot be the same time)."""
        return max(0, (min(self.end, other.end) - max(self.start, other.start)).days + 1)

    def overlaps(self, other: IncidentDate) -> bool:
        return self.overlap_days(other) > 0


@functools.lru_cache(maxsize=65536)
def _parse_date(text: str, today: dt.date) -> IncidentDate:
    # Cached: a store holds the same few thousand dates many times over (dates are
    # immutable, so sharing one is safe).
    return IncidentDate._parse(text, today)


@dataclass(frozen=True)
class Place:
    """A country (ISO 3166-1 alpha-2) and, if known, its first-level region (ISO 3166-2).
    Never finer: a village can identify a survivor."""

    country: str
    region: str | None = None


@dataclass(frozen=True)
class VictimGroup:
    sex: str
    age_band: str
    count: int

    @classmethod
    def parse(cls, text: str) -> VictimGroup:
        """`SEX:AGE_BAND:COUNT` (e.g. `female:18-29:2`); ValueError otherwise (the values
        are checked by `IncidentRecord.build`)."""
        parts = text.strip().split(":")
        if len(parts) != 3 or not parts[2].strip().isdecimal():
            raise ValueError(f"{text!r}: write victims as SEX:AGE_BAND:COUNT (female:18-29:2)")
        return cls(parts[0].strip(), parts[1].strip(), int(parts[2]))

    @property
    def text(self) -> str:
        return f"{self.sex}:{self.age_band}:{self.count}"


@dataclass(frozen=True)
class Act:
    """One act of one International Protocol category, its victims and perpetrators."""

    category: str
    victims: tuple[VictimGroup, ...]
    perpetrators: tuple[str, ...] = (UNKNOWN,)

    @property
    def victim_count(self) -> int:
        return sum(group.count for group in self.victims)


@dataclass(frozen=True)
class SourceLink:
    """A report this record was coded from, as imported in the workspace. Kept on the
    workstation only: it names the source's designation."""

    item: str  # the item's uuid in the workspace (evidence/<item>/)
    document: str  # its stored name, `3-sober_moth-msg.gpg`
    designation: str
    source: str | None  # the source's uuid, from the export bundle
    kind: str  # "alert", "assist", "message" or "document": what it was coded from


@dataclass(frozen=True)
class IncidentRecord:
    id: str
    group: str  # records linked as one incident share it (the first record's id)
    date: IncidentDate
    place: Place
    acts: tuple[Act, ...]
    source_type: str
    sources: tuple[SourceLink, ...]
    note: str | None = None  # the analyst's, sealed; never counted, never released
    revision: int = 1
    coded_at: str = ""
    coded_by: str = ""
    updated_at: str = ""

    # Fields an edit may change, and the names the custody log gives them.
    EDITABLE: ClassVar[tuple[str, ...]] = (
        "date",
        "place",
        "acts",
        "source_type",
        "sources",
        "note",
    )

    @classmethod
    def build(cls, **values: Any) -> IncidentRecord:
        """A checked record; IncidentInvalidError listing every problem otherwise."""
        problems: list[str] = []
        record = cls(**values)
        _check(record, problems)
        if problems:
            raise IncidentInvalidError(problems)
        return record

    @functools.cached_property  # frozen: computed once (duplicate scoring)
    def act_categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(act.category for act in self.acts))

    @functools.cached_property  # frozen: computed once (duplicate scoring)
    def perpetrator_categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for act in self.acts for p in act.perpetrators))

    @functools.cached_property  # frozen: computed once (duplicate scoring)
    def source_keys(self) -> tuple[str, ...]:
        """Who told us: each source's uuid (or designation when unknown), once."""
        return tuple(dict.fromkeys(link.source or link.designation for link in self.sources))

    def values(self) -> dict[str, Any]:
        """Every field, to build an edited copy: `build(**{**r.values(), "note": None})`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def changed_fields(self, other: IncidentRecord) -> list[str]:
        return [name for name in (*self.EDITABLE, "group") if _get(self, name) != _get(other, name)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "date": self.date.text,
            "place": {"country": self.place.country, "region": self.place.region},
            "acts": [
                {
                    "category": act.category,
                    "victims": [
                        {"sex": v.sex, "age_band": v.age_band, "count": v.count}
                        for v in act.victims
                    ],
                    "perpetrators": list(act.perpetrators),
                }
                for act in self.acts
            ],
            "source_type": self.source_type,
            "sources": [
                {
                    "item": s.item,
                    "document": s.document,
                    "designation": s.designation,
                    "source": s.source,
                    "kind": s.kind,
                }
                for s in self.sources
            ],
            "note": self.note,
            "revision": self.revision,
            "coded_at": self.coded_at,
            "coded_by": self.coded_by,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, check: bool = True) -> IncidentRecord:
        """A record from `to_dict`'s shape. `check=False` only for data this workstation
        wrote and can prove unchanged (the sealed store, bound to the signed custody
        log): at 100,000 records the checks are a third of the time to open it."""
        make = cls.build if check else cls
        try:
            date = IncidentDate.parse(str(data["date"]))
            return make(
                id=str(data["id"]),
                group=str(data["group"]),
                date=date,
                place=Place(data["place"]["country"], data["place"].get("region")),
                acts=tuple(
                    Act(
                        str(act["category"]),
                        tuple(
                            VictimGroup(str(v["sex"]), str(v["age_band"]), int(v["count"]))
                            for v in act["victims"]
                        ),
                        tuple(str(p) for p in act["perpetrators"]),
                    )
                    for act in data["acts"]
                ),
                source_type=str(data["source_type"]),
                sources=tuple(SourceLink(**s) for s in data["sources"]),
                note=data.get("note"),
                revision=int(data["revision"]),
                coded_at=str(data.get("coded_at", "")),
                coded_by=str(data.get("coded_by", "")),
                updated_at=str(data.get("updated_at", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IncidentInvalidError(
                [f"stored record: malformed ({type(exc).__name__})"]
            ) from exc


def _get(record: IncidentRecord, name: str) -> object:
    return getattr(record, name)


@functools.cache
def _is_country(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


@functools.cache
def _first_level(country: str) -> frozenset[str]:
    # Cached: a store of 100,000 records asks for the same few countries again and again.
    return frozenset(first_level(country))


def check_place(place: Place, problems: list[str]) -> None:
    if not isinstance(place.country, str) or not _is_country(place.country):
        problems.append(f"place: {place.country!r} is not an ISO 3166-1 alpha-2 country code")
        return
    if place.region is None:
        return
    regions = _first_level(place.country)
    if not regions:
        problems.append(
            f"place: {place.country} is coded without a region (its first-level "
            "subdivisions are too fine, or it has none)"
        )
    elif place.region not in regions:
        sub = pycountry.subdivisions.get(code=str(place.region))
        if sub is not None and sub.country_code == place.country:
            problems.append(
                f"place: {place.region} is not a first-level region of {place.country} "
                "(too fine: code its first-level region)"
            )
        else:
            problems.append(
                f"place: {place.region!r} is not an ISO 3166-2 region of {place.country}"
            )


def _check_choices(
    label: str, values: Iterable[str], choices: Sequence[str], out: list[str]
) -> None:
    for value in values:
        if value not in choices:
            out.append(f"{label}: {value!r} is not one of {', '.join(choices)}")


def _check(record: IncidentRecord, problems: list[str]) -> None:
    if not _UUID.match(record.id) or not _UUID.match(record.group):
        problems.append("id: not a uuid")
    if record.revision < 1:
        problems.append("revision: must count from 1")
    check_place(record.place, problems)
    if not record.acts:
        problems.append("acts: at least one act (--act CATEGORY)")
    seen = set()
    for act in record.acts:
        _check_choices("act", [act.category], ACTS, problems)
        if act.category in seen:
            problems.append(f"act: {act.category} twice (one act per category)")
        seen.add(act.category)
        if not act.victims:
            problems.append(
                f"act {act.category}: no victims (--victims SEX:AGE_BAND:COUNT; "
                "unknown:unknown:1 when not known)"
            )
        for group in act.victims:
            _check_choices(f"act {act.category}: victims' sex", [group.sex], SEXES, problems)
            _check_choices(f"act {act.category}: age band", [group.age_band], AGE_BANDS, problems)
            if not 1 <= group.count <= MAX_COUNT:
                problems.append(f"act {act.category}: a count must be 1 to {MAX_COUNT}")
        keys = [(g.sex, g.age_band) for g in act.victims]
        if len(set(keys)) != len(keys):
            problems.append(f"act {act.category}: a sex and age band given twice (add them up)")
        if not act.perpetrators:
            problems.append(f"act {act.category}: no perpetrator category (unknown if not known)")
        _check_choices(f"act {act.category}: perpetrator", act.perpetrators, PERPETRATORS, problems)
    _check_choices("source type", [record.source_type], SOURCE_TYPES, problems)
    if not record.sources:
        problems.append("sources: a record is coded from at least one imported report")
    for link in record.sources:
        if not _UUID.match(link.item) or (link.source and not _UUID.match(link.source)):
            problems.append(f"sources: {link.item!r} is not an item id")
        if not _DESIGNATION.match(link.designation):
            problems.append(f"sources: {link.designation!r} is not a designation")
    if record.note is not None:
        if len(record.note) > MAX_NOTE:
            problems.append(f"note: longer than {MAX_NOTE} characters")
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in record.note):
            problems.append("note: control characters")
