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

The ledger holds the rows each release counted (opaque incident ids and coded values,
nothing more than the coded records) and never leaves the workstation; the release
itself holds none of it. `Ledger` is a plain JSON file (0600), for rows given as a file
(tests, rows imported from another coding tool). `SealedLedger`, for releases made
straight from a workspace, keeps it inside the workspace sealed with gpg to the
submission key, like the incident store, and names each version's hash in the custody
log (`release-made`): a ledger replaced or rolled back (which would let a differencing
release through) is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keys.errors import DecryptionError
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
from workstation.observatory.store import seal_recipients

if TYPE_CHECKING:
    from keys.gpg import GpgKeyring
    from workstation.custody_log import Workspace

__all__ = ["DEFAULT_BUDGET", "Ledger", "LedgerRefusalError", "SealedLedger", "make_release"]

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
    # A release for the federation: its statement (whose, excluded against which peers).
    federation: dict[str, Any] | None = None

    @property
    def incidents(self) -> set[str]:
        return {r["incident_id"] for r in self.rows}


class Ledger:
    """The ledger file; `load` reads it, `record` appends a made release."""

    def __init__(self, path: Path, budget: float = DEFAULT_BUDGET) -> None:
        self.path = path
        self.budget = budget

    def _load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def entries(self) -> list[_Entry]:
        data = self._load()
        return [] if data is None else [_Entry(**item) for item in data["releases"]]

    @staticmethod
    def _entry(release: Release, spec: ReleaseSpec) -> dict[str, Any]:
        return asdict(
            _Entry(
                release_id=release.id,
                dimensions=list(spec.dimensions),
                scope=spec.scope(),
                k=spec.k,
                epsilon=spec.epsilon,
                hidden=sorted(list(key) for key in release.hidden),
                rows=[row_to_json(r) for r in release.rows],
                federation=release.document.get("federation"),
            )
        )

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

    def record(
        self,
        release: Release,
        spec: ReleaseSpec,
        *,
        federation: Mapping[str, Any] | None = None,
    ) -> None:
        """Append a made release (under an exclusive lock; the file stays 0600).
        `federation`: what the custody log records of the exclusions applied (a
        workspace's ledger only; the entry keeps the release's statement)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            text = handle.read()
            data: dict[str, Any] = (
                json.loads(text) if text.strip() else {"schema": "backup.release-ledger"}
            )
            data.setdefault("releases", [])
            data["releases"].append(self._entry(release, spec))
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(data, sort_keys=True))


LEDGER_NAME = "release-ledger.gpg"


class SealedLedger(Ledger):
    """The ledger of a workspace: `<workspace>/incidents/release-ledger.gpg`, gpg-sealed
    to every submission key in force, like the store (`store.seal_recipients`), its hash
    in the custody log. Use it under the incident store's lock
    (`store.open_book`), which serialises every command of the workspace."""

    def __init__(
        self,
        workspace: Workspace,
        keyring: GpgKeyring,
        passphrases: Sequence[str],
        budget: float = DEFAULT_BUDGET,
    ) -> None:
        super().__init__(workspace.root / "incidents" / LEDGER_NAME, budget)
        self.workspace = workspace
        self.keyring = keyring
        self.passphrases = list(passphrases)

    def _logged_sha256(self) -> str | None:
        from workstation.custody_log import LOG_NAME, read_log

        found = None
        for record in read_log(self.workspace.root / LOG_NAME):
            if record.body.get("action") in ("release-made", "ledger-resealed"):
                found = str(record.body["details"]["ledger_sha256"])
        return found

    def _load(self) -> dict[str, Any] | None:
        logged = self._logged_sha256()
        if logged is None:
            if self.path.exists():
                raise ReleaseError(
                    f"{LEDGER_NAME}: the custody log names no release ledger, yet one is "
                    "here: refusing to use it"
                )
            return None
        if not self.path.exists():
            raise ReleaseError(
                f"{LEDGER_NAME}: missing (the custody log names one): restore it from the "
                "workstation's backup"
            )
        sealed = self.path.read_bytes()
        if hashlib.sha256(sealed).hexdigest() != logged:
            raise ReleaseError(
                f"{LEDGER_NAME}: not the ledger the custody log names (replaced or rolled "
                "back): refusing to use it"
            )
        for passphrase in self.passphrases:
            try:
                data: dict[str, Any] = json.loads(self.keyring.open_bytes(sealed, passphrase))
            except (DecryptionError, ValueError):
                continue  # the next passphrase (after a rotation)
            return data
        raise ReleaseError(f"{LEDGER_NAME}: no submission key passphrase given opens it")

    def record(
        self,
        release: Release,
        spec: ReleaseSpec,
        *,
        federation: Mapping[str, Any] | None = None,
    ) -> None:
        """Seal the ledger with this release appended (never a clear copy on disk), then
        log its hash (and, for a release for the federation, the exclusions applied)."""
        data = self._load() or {"schema": "backup.release-ledger", "releases": []}
        data["releases"].append(self._entry(release, spec))
        sealed, recipients = self._seal(data)
        details: dict[str, Any] = {
            "release": release.id,
            "records": len({r.incident_id for r in release.rows}),
            "ledger_sha256": hashlib.sha256(sealed).hexdigest(),
            "sealed_to": recipients,
        }
        if federation is not None:
            details["federation"] = dict(federation)
        self.workspace.log.append("release-made", details)

    def reseal(self) -> list[str] | None:
        """Seal the ledger, unchanged, to every key in force (after a rotation), logged
        (`ledger-resealed`); None when this workspace has no ledger yet."""
        data = self._load()
        if data is None:
            return None
        sealed, recipients = self._seal(data)
        self.workspace.log.append(
            "ledger-resealed",
            {"ledger_sha256": hashlib.sha256(sealed).hexdigest(), "sealed_to": recipients},
        )
        return recipients

    def _seal(self, data: dict[str, Any]) -> tuple[bytes, list[str]]:
        recipients = seal_recipients(self.keyring)
        sealed = self.keyring.seal_bytes(
            json.dumps(data, sort_keys=True).encode("utf-8"), recipients
        )
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path)
        return sealed, sorted(recipients)


def _small_cells(rows: Iterable[ReleaseRow], spec: ReleaseSpec) -> int:
    """Cells of `rows` tabulated alone with 0 < incidents < k or 0 < victims < k."""
    victims: dict[Key, int] = {}
    incidents: dict[Key, set[str]] = {}
    for row in rows:
        key = tuple(category_of(row, d, spec) for d in spec.dimensions)
        victims[key] = victims.get(key, 0) + row.victim_count
        incidents.setdefault(key, set()).add(row.incident_id)
    return sum(1 for key in victims if victims[key] < spec.k or len(incidents[key]) < spec.k)


def make_release(
    rows: Iterable[ReleaseRow],
    spec: ReleaseSpec,
    ledger: Ledger,
    *,
    federation: Mapping[str, Any] | None = None,
) -> Release:
    """Build a release of `rows` per `spec` if the ledger allows it (LedgerRefusalError
    otherwise). The caller records it in the ledger once it is signed and written.

    For a release for the federation, `rows` are those left once the incidents peers
    count are excluded (`dedupe.apply_exclusions`), so the ledger sees what is counted:
    a federation release and another of the same incidents differ by the excluded
    ones, and rule 2 refuses that difference below k."""
    kept = [row for row in rows if in_scope(row, spec)]
    seed = ledger.check_and_seed(spec, kept)
    return build_release(kept, spec, keep_hidden=seed, federation=federation)
