"""The release ledger: every release made on this workstation, so that two releases
cannot be differenced to single out a record.

Suppression protects one table. Two tables over the same incidents can leak what
each hides: release A, then release B with one more incident, and B minus A is that
incident; or A hides a cell with the help of a complementary cell that B shows. So a
release is checked against every earlier one that shares an incident with it
(`check_and_seed`):

Without noise (k-suppression only):

1. A release sharing incidents with an earlier one must be a *revision of the same
   table*: same dimensions, same scope (countries, months, period unit), same k. A
   different table over some of the same incidents is refused (make releases over
   disjoint periods or countries, or use differential privacy).
2. The rows added since the earlier release, and those removed (a re-coded row is both),
   each tabulated alone over the release's dimensions, must have in every cell either
   nothing or at least k victims from at least k incidents. So a change never creates
   a small cell, and a difference between the two releases always stands for k or more
   incidents. One added record is refused.
3. Every entry an earlier release hid stays hidden (it seeds the suppression), so what
   the revision shows is never what protected a hidden entry before. With rules 2 and
   3, any alternative table the earlier release allowed extends to the revision (the
   same move, zero on the entries only the revision hides): together they determine no
   hidden entry that either leaves ambiguous (see docs/observatory.md).

With noise (differential privacy): releases may overlap freely, and their epsilons add
up (basic composition): a release is refused when, for some incident in it, the
epsilons of the noisy releases holding that incident would pass the budget.

The ledger is a JSON file on the workstation (0600). It holds the rows each release
counted (opaque incident ids and coded values, nothing more than the coded records)
and never leaves the workstation; the release itself holds none of it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workstation.observatory.release import (
    Release,
    ReleaseError,
    ReleaseSpec,
    build_release,
    category_of,
    in_scope,
)
from workstation.observatory.release_input import ReleaseRow, row_from_json, row_to_json
from workstation.observatory.release_table import Key

__all__ = ["DEFAULT_BUDGET", "Ledger", "LedgerRefusalError", "make_release"]

DEFAULT_BUDGET = 3.0  # total epsilon an incident may spend over all noisy releases


class LedgerRefusalError(ReleaseError):
    """This release, made after the ledger's, could single out records."""


def _row_id(row: ReleaseRow) -> str:
    return hashlib.sha256(json.dumps(row_to_json(row), sort_keys=True).encode()).hexdigest()


@dataclass
class _Entry:
    release_id: str
    dimensions: list[str]
    scope: dict[str, Any]
    k: int
    epsilon: float | None
    hidden: list[list[str]]
    rows: list[dict[str, Any]]

    @property
    def incidents(self) -> set[str]:
        return {r["incident_id"] for r in self.rows}


class Ledger:
    """The ledger file; `load` reads it, `record` appends a made release."""

    def __init__(self, path: Path, budget: float = DEFAULT_BUDGET) -> None:
        self.path = path
        self.budget = budget

    def entries(self) -> list[_Entry]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [_Entry(**item) for item in data["releases"]]

    def check_and_seed(self, spec: ReleaseSpec, rows: Sequence[ReleaseRow]) -> set[Key]:
        """Refuse (LedgerRefusalError) a release of `rows` (in scope, consented) per `spec`
        that the earlier ones forbid; else the entries it must keep hidden."""
        incidents = {row.incident_id for row in rows}
        entries = self.entries()
        if spec.epsilon is not None:
            spent = 0.0
            for incident in incidents:
                used = sum(
                    e.epsilon for e in entries if e.epsilon is not None and incident in e.incidents
                )
                spent = max(spent, used)
            if spent + spec.epsilon > self.budget + 1e-9:
                raise LedgerRefusalError(
                    f"privacy budget: these incidents have spent epsilon {spent:g} of "
                    f"{self.budget:g}; this release would add {spec.epsilon:g}"
                )
            return set()
        seed: set[Key] = set()
        for entry in entries:
            if entry.epsilon is not None or not (entry.incidents & incidents):
                continue
            if (
                entry.dimensions != list(spec.dimensions)
                or entry.scope != spec.scope()
                or entry.k != spec.k
            ):
                raise LedgerRefusalError(
                    f"shares incidents with release {entry.release_id}, which counts "
                    "another table: release disjoint periods or countries, or use noise"
                )
            before = {_row_id(r): r for r in (row_from_json(x) for x in entry.rows)}
            now = {_row_id(r): r for r in rows}
            added = [now[i] for i in now.keys() - before.keys()]
            removed = [before[i] for i in before.keys() - now.keys()]
            for name, change in (("added", added), ("removed", removed)):
                small = _small_cells(change, spec)
                if small:
                    raise LedgerRefusalError(
                        f"the rows {name} since release {entry.release_id} fill {small} "
                        f"cell(s) with fewer than {spec.k} incidents: they would be singled "
                        "out by difference; wait for more, or use noise"
                    )
            seed |= {tuple(key) for key in entry.hidden}
        return seed

    def record(self, release: Release, spec: ReleaseSpec) -> None:
        """Append a made release (under an exclusive lock; the file stays 0600)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            text = handle.read()
            data: dict[str, Any] = (
                json.loads(text) if text.strip() else {"schema": "backup.release-ledger"}
            )
            data.setdefault("releases", [])
            data["releases"].append(
                asdict(
                    _Entry(
                        release_id=release.id,
                        dimensions=list(spec.dimensions),
                        scope=spec.scope(),
                        k=spec.k,
                        epsilon=spec.epsilon,
                        hidden=sorted(list(key) for key in release.hidden),
                        rows=[row_to_json(r) for r in release.rows],
                    )
                )
            )
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(data, sort_keys=True))


def _small_cells(rows: Iterable[ReleaseRow], spec: ReleaseSpec) -> int:
    """Cells of `rows` tabulated alone with 0 < incidents < k or 0 < victims < k."""
    victims: dict[Key, int] = {}
    incidents: dict[Key, set[str]] = {}
    for row in rows:
        key = tuple(category_of(row, d, spec) for d in spec.dimensions)
        victims[key] = victims.get(key, 0) + row.victim_count
        incidents.setdefault(key, set()).add(row.incident_id)
    return sum(1 for key in victims if victims[key] < spec.k or len(incidents[key]) < spec.k)


def make_release(rows: Iterable[ReleaseRow], spec: ReleaseSpec, ledger: Ledger) -> Release:
    """Build a release of `rows` per `spec` if the ledger allows it (LedgerRefusalError
    otherwise). The caller records it in the ledger once it is signed and written."""
    kept = [row for row in rows if in_scope(row, spec)]
    seed = ledger.check_and_seed(spec, kept)
    return build_release(kept, spec, keep_hidden=seed)
