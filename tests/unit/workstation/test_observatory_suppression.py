"""Small-cell and complementary suppression (workstation.observatory.release_table),
attacked by an independent solver (observatory_attack) on many random tables."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.workstation.observatory_attack import determined, recoverable
from workstation.observatory.release_table import (
    TOTAL,
    Table,
    _complete,
    audit,
    primary,
    suppress,
)

K = 5


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[list[str]], dict[tuple[str, ...], int]]:
    n = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 4)) for _ in range(n)]
    categories = [[f"c{i}" for i in range(size)] for size in sizes]
    cell = st.sampled_from([0, 0, 1, 1, 2, 3, 4, 5, 6, 9, 15, 40])
    values = {key: draw(cell) for key in itertools.product(*categories)}
    return categories, values


def _publish(table: Table, hidden: set[tuple[str, ...]]) -> dict[tuple[str, ...], int | None]:
    return {e: (None if e in hidden else table.value(e)) for e in table.entries()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_margins_minus_visible_cells_leave_every_hidden_entry_ambiguous(
    drawn: tuple[list[list[str]], dict[tuple[str, ...], int]],
) -> None:
    categories, values = drawn
    table = Table.from_values([f"d{i}" for i in range(len(categories))], categories, values)
    first, hidden = suppress(table, K)
    published = _publish(table, hidden)
    # Narrow slices: no count between 1 and k-1 is ever shown, cell or total.
    assert all(v is None or v == 0 or v >= K for v in published.values())
    # Every primary entry is hidden; nothing hidden is zero.
    assert first <= hidden
    assert all(table.value(e) > 0 for e in hidden)
    # The independent attacker finds another table for every hidden entry.
    assert recoverable(categories, published, table.victims) == set()
    assert audit(table, hidden) == set()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data())
def test_the_audit_finds_exactly_what_the_rationals_determine(
    drawn: tuple[list[list[str]], dict[tuple[str, ...], int]], data: st.DataObject
) -> None:
    """Any hidden pattern (not only suppression's): the audit's answer (a random
    solution modulo a prime, in minimum-degree order) is exactly the set of hidden
    entries that every rational solution pins, by a dense reduced row echelon form."""
    categories, values = drawn
    table = Table.from_values([f"d{i}" for i in range(len(categories))], categories, values)
    entries = list(table.entries())
    hidden = set(data.draw(st.lists(st.sampled_from(entries), max_size=len(entries))))
    assert audit(table, hidden) == determined(categories, hidden)


# A 3x3x3 table where the two line rules alone leave a cell recoverable (found by
# searching random tables with the independent attacker).
_RULES_NOT_ENOUGH = [
    15, 0, 2, 2, 3, 5, 9, 0, 0,
    40, 15, 2, 40, 1, 2, 9, 15, 0,
    40, 15, 40, 0, 1, 40, 2, 0, 0,
]  # fmt: skip


def test_the_line_rules_are_not_enough_and_the_exact_audit_closes_the_gap() -> None:
    cats = [["c0", "c1", "c2"]] * 3
    keys = list(itertools.product(*cats))
    table = Table.from_values(
        ["a", "b", "c"], cats, dict(zip(keys, _RULES_NOT_ENOUGH, strict=True))
    )
    rules_only = primary(table, K)
    _complete(table, rules_only, K)
    leaked = recoverable(cats, _publish(table, rules_only), table.victims)
    assert leaked == {("c0", "c1", "c0")}
    assert audit(table, rules_only) == leaked  # the audit sees what the attacker sees
    _, hidden = suppress(table, K)
    assert recoverable(cats, _publish(table, hidden), table.victims) == set()


def test_a_single_small_cell_takes_a_partner_in_each_of_its_lines() -> None:
    cats = [["n", "s"], ["f", "m"]]
    values = {("n", "f"): 2, ("n", "m"): 30, ("s", "f"): 12, ("s", "m"): 40}
    table = Table.from_values(["region", "sex"], cats, values)
    first, hidden = suppress(table, K)
    assert first == {("n", "f")}
    # Its row and column each get a second hidden entry; the smallest are taken.
    assert ("s", "f") in hidden and ("n", "m") in hidden
    published = _publish(table, hidden)
    assert published[(TOTAL, TOTAL)] == 84
    assert recoverable(cats, published, table.victims) == set()


def test_a_line_whose_hidden_cells_add_up_below_k_hides_more() -> None:
    # Two cells of 1 in a line with a shown total: hiding only them says "2 in all".
    cats = [["a", "b", "c"]]
    table = Table.from_values(["act"], cats, {("a",): 1, ("b",): 1, ("c",): 30})
    _, hidden = suppress(table, K)
    assert ("c",) in hidden or (TOTAL,) in hidden
    shown = _publish(table, hidden)
    assert recoverable(cats, shown, table.victims) == set()


def test_incidents_below_k_hide_a_cell_with_many_victims() -> None:
    # One incident with 12 victims: enough victims, too few incidents.
    cells = [(("x",), 12, "i1"), (("y",), 3, "i2"), *[(("y",), 1, f"j{i}") for i in range(6)]]
    table = Table.from_cells(["region"], [["x", "y"]], cells)
    first, _ = suppress(table, K)
    assert ("x",) in first
    assert ("y",) not in first


def test_seeded_entries_stay_hidden() -> None:
    cats = [["a", "b", "c"]]
    table = Table.from_values(["act"], cats, {("a",): 10, ("b",): 20, ("c",): 0})
    _, hidden = suppress(table, K, seed={("a",), ("c",)})
    assert ("a",) in hidden and ("c",) not in hidden  # a zero is no one: shown
    assert recoverable(cats, _publish(table, hidden), table.victims) == set()


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        suppress(Table.from_values(["a"], [["x"]], {("x",): 1}), 0)
