"""The observatory's combined release: several organisations' releases for the
federation, added up, with the same suppression rules (docs/observatory.md,
"Federation").

Each input is a verified release that states, in its `federation` statement, whose it
is and against which peers it excluded the incidents they count (`dedupe`). The
combination is refused unless:

- the inputs are two or more, from distinct organisations;
- they count the same table: the same dimensions with the same categories, the same
  scope (countries, months, unit) and the same k; all without noise, or all with the
  same differential-privacy parameters (each incident is in one input only, so the sum
  spends the same epsilon: parallel composition);
- each input excluded the incidents of every other input's organisation that sorts
  before it (`dedupe.counted_by`): so an incident several of them hold is counted once.

**Suppressed entries in the inputs.** What the inputs show of an entry that one of them
hid adds up to a lower bound only: the true sum is unknown. Such an entry is hidden in
the combined release too; it is never published as a number. Then the combined table
goes through the workstation's own suppression (`release_table.suppress`: primary,
complementary, exact audit) with those entries as seed, their lower bounds (shown parts,
plus one for each hidden part: a hidden entry is never zero) standing for their values,
which can only hide more. Everything the combined release shows is a sum of what the
inputs show, so it tells nothing the inputs do not.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from workstation.observatory import release_table
from workstation.observatory.dedupe import DedupeError, counted_by
from workstation.observatory.release import SCHEMA, VERSION, _software, check_document
from workstation.observatory.release_table import Key, Table

__all__ = ["combine"]

LOWER_BOUND_NOTE = (
    "an entry hidden in any input is hidden here: what the inputs show of it adds up to a "
    "lower bound only, never published as a count; then the same small-cell, "
    "complementary suppression and exact audit ran on the combined table"
)


def _table_of(document: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    return (
        tuple(d["name"] for d in document["dimensions"]),
        tuple(tuple(d["categories"]) for d in document["dimensions"]),
    )


def combine(
    inputs: Sequence[tuple[Mapping[str, Any], str]],
    *,
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """The combined document (unsigned) of verified releases, each with its signer's
    fingerprint; DedupeError when they cannot be combined (see the module)."""
    if len(inputs) < 2:
        raise DedupeError("combine two releases or more")
    organisations: dict[str, Mapping[str, Any]] = {}
    for document, _signer in inputs:
        check_document(document)
        federation = document.get("federation")
        if not isinstance(federation, dict) or "organisation" not in federation:
            raise DedupeError(f"release {document.get('id')} is not a release for the federation")
        organisation = str(federation["organisation"])
        if organisation in organisations:
            raise DedupeError(f"two releases from {organisation}")
        organisations[organisation] = document
    first = inputs[0][0]
    shape, method = _table_of(first), first["method"]
    for document, _signer in inputs[1:]:
        if _table_of(document) != shape:
            raise DedupeError("the releases count different tables (dimensions or categories)")
        if document["scope"] != first["scope"]:
            raise DedupeError("the releases have different scopes (countries, months, unit)")
        if document["method"]["k"] != method["k"]:
            raise DedupeError("the releases have different k")
        if document["method"]["differential_privacy"] != method["differential_privacy"]:
            raise DedupeError("the releases differ in noise (differential privacy)")
    for organisation, document in organisations.items():
        against = set(document["federation"].get("excluded_against") or [])
        for other in organisations:
            if other != organisation and counted_by((other, organisation)) == other:
                if other not in against:
                    raise DedupeError(
                        f"{organisation}'s release did not exclude the incidents {other} "
                        "counts: shared incidents would be counted twice"
                    )

    dimensions, categories = shape
    k = int(method["k"])
    known: dict[Key, int] = {}
    bound: dict[Key, int] = {}
    unknown: set[Key] = set()
    for document, _signer in inputs:
        for entry in document["entries"]:
            key = tuple(entry["key"])
            value = entry["value"]
            bound[key] = bound.get(key, 0) + (1 if value is None else int(value))
            if value is None:
                unknown.add(key)
            else:
                known[key] = known.get(key, 0) + int(value)
    table = Table(dimensions, categories)
    table.victims = {key: bound[key] for key in bound if bound[key]}
    # Shown input entries stand for k incidents or more; a sum, for at least as many.
    table.incidents = dict(table.victims)
    _first, hidden = release_table.suppress(table, k, seed=unknown)
    if unknown - hidden:  # pragma: no cover - every seeded entry is > 0, so hidden
        raise AssertionError("an entry unknown in the combination would be shown")
    entries = [
        {"key": list(key), "value": None if key in hidden else known.get(key, 0)}
        for key in table.entries()
    ]
    sources: list[dict[str, Any]] = sorted(
        (
            {
                "id": str(document["id"]),
                "organisation": str(document["federation"]["organisation"]),
                "signer": signer.upper(),
                "records": int(document["records"]),
            }
            for document, signer in inputs
        ),
        key=lambda s: str(s["organisation"]),
    )
    combined_method = dict(method)
    combined_method["combination"] = (
        "sum of releases for the federation, each excluding the incidents that an "
        "organisation sorting before it also holds (counted once); " + LOWER_BOUND_NOTE
    )
    combined: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "id": str(uuid.uuid4()),
        "created": (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "software": _software(),
        "method": combined_method,
        "scope": dict(first["scope"]),
        "records": sum(int(d["records"]) for d, _s in inputs),
        "records_noisy": any(bool(d["records_noisy"]) for d, _s in inputs),
        "dimensions": [dict(d) for d in first["dimensions"]],
        "suppression": {
            "primary": len(unknown),
            "complementary": len(hidden - unknown),
            "entries": len(bound),
        },
        "entries": entries,
        "combined_from": sources,
    }
    check_document(combined)
    return combined
