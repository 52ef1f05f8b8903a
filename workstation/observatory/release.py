"""A statistics release: counts of victims over chosen dimensions, from the rows whose
source consented to statistics, with small cells hidden so that nothing published
(margins included) gives one away; optionally with differentially private noise
(OpenDP). See docs/observatory.md for the method and what it can and cannot reveal.

What is counted: victims (the rows' `victim_count`), each row once. The act dimension
takes a row's *principal act*: the first of its acts in the International Protocol's
order (`ACTS`), so that every victim is counted once and the table adds up (like the
"principal offence" rule of crime statistics); a release states this rule.

The document (`build_release`) is plain JSON, signed as canonical bytes
(`release_sign`); the release ledger (`release_ledger`) decides whether a release may be
made at all given the earlier ones (differencing).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vault.regions import REGIONS
from workstation.observatory import release_table
from workstation.observatory.release_input import (
    ACTS,
    AGE_BANDS,
    PERPETRATORS,
    SEXES,
    ReleaseRow,
)
from workstation.observatory.release_table import TOTAL, Key, Table

__all__ = [
    "DIMENSIONS",
    "SCHEMA",
    "UNKNOWN",
    "Dimension",
    "Release",
    "ReleaseError",
    "ReleaseSpec",
    "build_release",
    "canonical",
    "category_of",
    "in_scope",
]

SCHEMA = "backup.observatory-release"
VERSION = 1
UNKNOWN = "unknown"
Dimension = Literal["period", "country", "region", "act", "victim_sex", "age_band", "perpetrator"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
PeriodUnit = Literal["month", "year"]
DEFAULT_K = 5
# Differential privacy: one incident adds at most this many victims to the table (its
# rows are cut down in a fixed order beyond it), which bounds the noise's sensitivity.
DEFAULT_CONTRIBUTION_CAP = 10
# Of a DP release's epsilon, the share spent on the number of incidents behind it.
_EPSILON_RECORDS_SHARE = 0.1
_MONTH = r"\d{4}-\d{2}"


class ReleaseError(ValueError):
    """A release that cannot be made (bad parameters, refused by the ledger...)."""


@dataclass(frozen=True)
class ReleaseSpec:
    """What to count: dimensions, scope (countries, first and last month), k, DP."""

    dimensions: tuple[str, ...]
    first_month: str  # "2025-01"
    last_month: str  # "2025-12", inclusive
    countries: tuple[str, ...] = ()  # empty: every country
    period_unit: PeriodUnit = "month"
    k: int = DEFAULT_K
    epsilon: float | None = None  # None: no noise
    contribution_cap: int = DEFAULT_CONTRIBUTION_CAP

    def __post_init__(self) -> None:
        if not self.dimensions or len(set(self.dimensions)) != len(self.dimensions):
            raise ReleaseError("dimensions: at least one, each once")
        if any(d not in DIMENSIONS for d in self.dimensions):
            raise ReleaseError(f"dimensions: choose among {', '.join(DIMENSIONS)}")
        if len(self.dimensions) > 5:
            raise ReleaseError("dimensions: at most five")
        try:
            first, last = _month_start(self.first_month), _month_start(self.last_month)
        except ValueError as exc:
            raise ReleaseError("months are YYYY-MM") from exc
        if last < first:
            raise ReleaseError("the last month is before the first")
        if self.period_unit not in get_args(PeriodUnit):
            raise ReleaseError("period unit: month or year")
        if self.period_unit == "year" and (first.month != 1 or last.month != 12):
            raise ReleaseError("a yearly release covers whole years (January to December)")
        if not 2 <= self.k <= 100:
            raise ReleaseError("k is between 2 and 100")
        if self.epsilon is not None and not 0.01 <= self.epsilon <= 10:
            raise ReleaseError("epsilon is between 0.01 and 10")
        if not 1 <= self.contribution_cap <= 1000:
            raise ReleaseError("contribution cap is between 1 and 1000")

    @property
    def start(self) -> dt.date:
        return _month_start(self.first_month)

    @property
    def end(self) -> dt.date:
        """The last day covered."""
        last = _month_start(self.last_month)
        following = dt.date(last.year + last.month // 12, last.month % 12 + 1, 1)
        return following - dt.timedelta(days=1)

    def scope(self) -> dict[str, Any]:
        return {
            "countries": list(self.countries),
            "first_month": self.first_month,
            "last_month": self.last_month,
            "period_unit": self.period_unit,
        }


def _month_start(month: str) -> dt.date:
    year, _, mon = month.partition("-")
    if len(year) != 4 or len(mon) != 2:
        raise ValueError(month)
    return dt.date(int(year), int(mon), 1)


def in_scope(row: ReleaseRow, spec: ReleaseSpec) -> bool:
    """Consented to statistics, in one of the countries, dated within the period (the
    whole of its date: a year-precision row is in only if the whole year is)."""
    if not row.consent_statistics:
        return False
    if spec.countries and row.country not in spec.countries:
        return False
    last_day = row.date_end or _last_day(row)
    return spec.start <= row.date and last_day <= spec.end


def _last_day(row: ReleaseRow) -> dt.date:
    if row.precision == "year":
        return dt.date(row.date.year, 12, 31)
    if row.precision == "month":
        d = row.date
        return dt.date(d.year + d.month // 12, d.month % 12 + 1, 1) - dt.timedelta(days=1)
    return row.date


def category_of(row: ReleaseRow, dimension: str, spec: ReleaseSpec) -> str:
    """The row's category in one dimension (UNKNOWN when it was not known)."""
    if dimension == "period":
        value = row.month if spec.period_unit == "month" else row.year
        return value or UNKNOWN
    if dimension == "country":
        return row.country
    if dimension == "region":
        return row.region or UNKNOWN
    if dimension == "act":
        return row.acts[0]  # principal act: the first in the Protocol's order
    if dimension == "victim_sex":
        return row.victim_sex or UNKNOWN
    if dimension == "age_band":
        return row.age_band or UNKNOWN
    if dimension == "perpetrator":
        return row.perpetrator
    raise ReleaseError(f"unknown dimension {dimension}")  # pragma: no cover - spec checks


def _months(spec: ReleaseSpec) -> list[str]:
    out, day = [], spec.start
    while day <= spec.end:
        out.append(f"{day.year:04d}-{day.month:02d}")
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def categories(spec: ReleaseSpec, rows: Sequence[ReleaseRow]) -> list[list[str]]:
    """Each dimension's categories: the whole vocabulary for closed ones (a zero is
    published as a zero), the scope's countries and all their first-level regions
    (plus any other present); "unknown" last, when present."""
    out = []
    for dim in spec.dimensions:
        present = {category_of(row, dim, spec) for row in rows}
        if dim == "period":
            base = (
                _months(spec)
                if spec.period_unit == "month"
                else [str(y) for y in range(spec.start.year, spec.end.year + 1)]
            )
        elif dim == "act":
            base = list(ACTS)
        elif dim == "victim_sex":
            base = list(SEXES)
        elif dim == "age_band":
            base = list(AGE_BANDS)
        elif dim == "perpetrator":
            base = list(PERPETRATORS)
        elif dim == "country":
            base = sorted(set(spec.countries) | (present - {UNKNOWN}))
        else:
            # Every first-level region of the countries named (a region appears whether
            # or not anyone reported there), and any other present.
            listed = {code for c in spec.countries for code in REGIONS.get(c, {})}
            base = sorted(listed | (present - {UNKNOWN}))
        if UNKNOWN in present and UNKNOWN not in base:
            base.append(UNKNOWN)
        out.append(base)
    return out


@dataclass
class Release:
    """A built release: the document (what is published) and what stays behind."""

    document: dict[str, Any]
    table: Table  # true (or noisy) values, every entry: never published as such
    hidden: set[Key] = field(default_factory=set)
    rows: list[ReleaseRow] = field(default_factory=list)  # in scope, consented

    @property
    def id(self) -> str:
        return str(self.document["id"])

    def published(self) -> dict[Key, int | None]:
        return {tuple(e["key"]): e["value"] for e in self.document["entries"]}


def _software() -> dict[str, str]:
    out = {"backup": importlib.metadata.version("backup-dropbox")}
    try:
        out["opendp"] = importlib.metadata.version("opendp")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - pinned
        pass
    return out


def _dp_noise(
    spec: ReleaseSpec, cats: list[list[str]], rows: Sequence[ReleaseRow]
) -> tuple[dict[Key, int], int, dict[str, Any]]:
    """Noisy cell values and number of incidents, through OpenDP's discrete Laplace
    mechanism; each incident's contribution bounded first (see the module)."""
    import opendp.prelude as dp  # the import is slow: only when noise is asked for

    dp.enable_features("contrib")
    if spec.epsilon is None:  # pragma: no cover - callers check
        raise ReleaseError("no epsilon")
    cap = spec.contribution_cap
    eps_records = spec.epsilon * _EPSILON_RECORDS_SHARE
    eps_table = spec.epsilon - eps_records

    # Contribution bounding: each incident's rows in a fixed order, cut at `cap`.
    used: dict[str, int] = {}
    true: dict[Key, int] = {}
    for row in sorted(rows, key=_row_order):
        room = cap - used.get(row.incident_id, 0)
        take = min(room, row.victim_count)
        if take <= 0:
            continue
        used[row.incident_id] = used.get(row.incident_id, 0) + take
        key = tuple(category_of(row, d, spec) for d in spec.dimensions)
        true[key] = true.get(key, 0) + take
    keys = list(release_table._product(cats))
    vector = [true.get(key, 0) for key in keys]

    table_meas = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=cap / eps_table
    )
    count_meas = dp.m.make_laplace(
        dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=1 / eps_records
    )
    # OpenDP's own accounting: the loss for one incident added or removed.
    spent_table = float(table_meas.map(cap))
    spent_records = float(count_meas.map(1))
    if spent_table > eps_table * (1 + 1e-9) or spent_records > eps_records * (1 + 1e-9):
        raise ReleaseError("privacy accounting exceeds the budget")  # pragma: no cover
    noisy = table_meas(vector)
    noisy_records = max(0, int(count_meas(len(used))))
    # Post-processing (costs no privacy): negative counts become 0.
    values = {key: max(0, int(v)) for key, v in zip(keys, noisy, strict=True)}
    method = {
        "library": "opendp",
        "mechanism": "discrete Laplace (make_laplace), add/remove one incident",
        "epsilon": spec.epsilon,
        "epsilon_table": spent_table,
        "epsilon_records": spent_records,
        "contribution_cap": cap,
        "scale_table": cap / eps_table,
        "scale_records": 1 / eps_records,
        "post_processing": "negative cells set to 0; margins are sums of noisy cells; "
        "then small-cell and complementary suppression on the noisy values",
    }
    return values, noisy_records, method


def _row_order(row: ReleaseRow) -> tuple[Any, ...]:
    return (
        row.incident_id,
        row.acts,
        row.victim_sex or "",
        row.age_band or "",
        row.victim_count,
        row.perpetrator,
    )


def build_release(
    rows: Iterable[ReleaseRow],
    spec: ReleaseSpec,
    *,
    keep_hidden: Iterable[Key] = (),
    created: dt.datetime | None = None,
    federation: Mapping[str, Any] | None = None,
) -> Release:
    """Count `rows` per `spec`, suppress, and return the release (unsigned).

    `keep_hidden`: entries an earlier release of the same table hid; they stay hidden
    (the ledger passes them: see `release_ledger`). `federation`: the statement of a
    release for the federation (`dedupe.apply_exclusions`: whose release, which peers'
    shared incidents it leaves out), kept in the document."""
    kept = [row for row in rows if in_scope(row, spec)]
    cats = categories(spec, kept)
    dp_method: dict[str, Any] | None = None
    if spec.epsilon is None:
        table = Table.from_cells(
            spec.dimensions,
            cats,
            (
                (
                    tuple(category_of(r, d, spec) for d in spec.dimensions),
                    r.victim_count,
                    r.incident_id,
                )
                for r in kept
            ),
        )
        records = len({r.incident_id for r in kept})
    else:
        values, records, dp_method = _dp_noise(spec, cats, kept)
        table = Table.from_values(spec.dimensions, cats, values)
    valid = set(table.entries())
    seed = {tuple(key) for key in keep_hidden} & valid
    first, hidden = release_table.suppress(table, spec.k, seed=seed)
    entries = [
        {"key": list(key), "value": None if key in hidden else table.value(key)}
        for key in table.entries()
    ]
    when = (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "id": str(uuid.uuid4()),
        "created": when,
        "software": _software(),
        "method": {
            "measure": "victims",
            "unit": "de-duplicated incidents, one row per group of victims",
            "consent": "only rows whose source consented to statistics",
            "act_rule": "principal act: the first of the row's acts in the order of "
            "the International Protocol's categories",
            "k": spec.k,
            "primary_suppression": "an entry (cell or total) with 0 < incidents < k "
            "or 0 < victims < k is hidden"
            if dp_method is None
            else "an entry (cell or total) with 0 < noisy victims < k is hidden",
            "complementary_suppression": "every line (the categories of one dimension "
            "and their total) with a hidden entry has two or more, and its hidden "
            "categories add up to k or more when its total is shown; then an exact "
            "audit (reduced row echelon form modulo 2^61-1) that no hidden entry is "
            "determined by what is shown",
            "total_marker": TOTAL,
            "differential_privacy": dp_method,
        },
        "scope": spec.scope(),
        "records": records,
        "records_noisy": dp_method is not None,
        "dimensions": [
            {"name": name, "categories": list(c)}
            for name, c in zip(spec.dimensions, cats, strict=True)
        ],
        "suppression": {
            "primary": len(first),
            "complementary": len(hidden - first),
            "entries": len(valid),
        },
        "entries": entries,
    }
    if federation is not None:
        document["federation"] = dict(federation)
    return Release(document=document, table=table, hidden=hidden, rows=kept)


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: keys sorted, no spaces, UTF-8."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def check_document(document: Any) -> None:
    """Shape and arithmetic of a release document; ReleaseError if anything is off.

    Every visible total equals the sum of its line's categories when these are all
    visible, and no visible entry is below k (other than 0)."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ReleaseError("not a release")
    if document.get("version") != VERSION:
        raise ReleaseError("unknown release version")
    try:
        k = int(document["method"]["k"])
        dims = [d["name"] for d in document["dimensions"]]
        cats = [list(d["categories"]) for d in document["dimensions"]]
        values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise ReleaseError("release: malformed") from exc
    if any(d not in DIMENSIONS for d in dims):
        raise ReleaseError("release: unknown dimension")
    table = Table(tuple(dims), tuple(tuple(c) for c in cats))
    expected = set(table.entries())
    if set(values) != expected or len(values) != len(document["entries"]):
        raise ReleaseError("release: entries do not match the dimensions")
    for value in values.values():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReleaseError("release: a count is not a whole number")
        if 0 < value < k:
            raise ReleaseError("release: a small count is shown")
    for dim in range(len(dims)):
        for key in expected:
            if key[dim] != TOTAL:
                continue
            members, total = release_table.line_keys(table, dim, key)
            shown = [values[m] for m in members]
            if values[total] is not None and None not in shown:
                if sum(v for v in shown if v is not None) != values[total]:
                    raise ReleaseError("release: a total does not add up")
