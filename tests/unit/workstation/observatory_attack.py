"""The attacker of a published table, written independently of the suppression code:
exact rational linear algebra over what a release shows.

Given the published entries (a value, or None when hidden), the attacker knows every
line equation (a total is the sum of its categories) with the shown values put in. For
each hidden entry, `alternative` looks for another non-negative table that shows exactly
the same thing but differs there: if it exists, "margins minus visible cells" cannot
recover the entry. `recoverable` returns the hidden entries for which none exists
(the attack succeeded).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

TOTAL = "*"
Key = tuple[str, ...]


def _entries(categories: list[list[str]]) -> list[Key]:
    return list(itertools.product(*[[*c, TOTAL] for c in categories]))


def lines(categories: list[list[str]]) -> list[tuple[list[Key], Key]]:
    out = []
    for dim, cats in enumerate(categories):
        for key in _entries(categories):
            if key[dim] != TOTAL:
                continue
            members = [(*key[:dim], c, *key[dim + 1 :]) for c in cats]
            out.append((members, key))
    return out


def _nullspace(matrix: list[list[Fraction]], n: int) -> list[list[Fraction]]:
    """A basis of {v : matrix v = 0}, by reduced row echelon form over the rationals."""
    rows = [list(r) for r in matrix]
    pivots: list[int] = []
    r = 0
    for c in range(n):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        head = rows[r][c]
        rows[r] = [v / head for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                factor = rows[i][c]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append(c)
        r += 1
        if r == len(rows):
            break
    basis = []
    for free in (c for c in range(n) if c not in pivots):
        v = [Fraction(0)] * n
        v[free] = Fraction(1)
        for i, p in enumerate(pivots):
            v[p] = -rows[i][free]
        basis.append(v)
    return basis


def _system(categories: list[list[str]], hidden: list[Key]) -> list[list[Fraction]]:
    index = {k: i for i, k in enumerate(hidden)}
    matrix = []
    for members, total in lines(categories):
        row = [Fraction(0)] * len(hidden)
        for m in members:
            if m in index:
                row[index[m]] += 1
        if total in index:
            row[index[total]] -= 1
        if any(row):
            matrix.append(row)
    return matrix


def determined(categories: list[list[str]], hidden: set[Key]) -> set[Key]:
    """Hidden entries that are the same in every solution of the line equations
    (whatever the sign: zero in every vector of the null space)."""
    ordered = sorted(hidden)
    basis = _nullspace(_system(categories, ordered), len(ordered)) if ordered else []
    return {key for j, key in enumerate(ordered) if all(v[j] == 0 for v in basis)}


def recoverable(
    categories: list[list[str]],
    published: dict[Key, int | None],
    truth: dict[Key, int],
) -> set[Key]:
    """Hidden entries with no alternative table (see the module)."""
    hidden = sorted(k for k, v in published.items() if v is None)
    index = {k: i for i, k in enumerate(hidden)}
    basis = _nullspace(_system(categories, hidden), len(hidden)) if hidden else []
    found = set()
    for key in hidden:
        j = index[key]
        direction = next((v for v in basis if v[j] != 0), None)
        if direction is None:
            found.add(key)
            continue
        # Move along it as far as keeps every hidden entry >= 0 (all start > 0).
        step = min(
            Fraction(truth.get(h, 0)) / abs(direction[i])
            for i, h in enumerate(hidden)
            if direction[i] != 0
        )
        if step <= 0:
            found.add(key)
            continue
        other = dict(truth)
        for i, h in enumerate(hidden):
            other[h] = Fraction(truth.get(h, 0)) + step / 2 * direction[i]
        # The alternative shows the same thing and adds up.
        for members, total in lines(categories):
            assert sum(other.get(m, 0) for m in members) == other.get(total, 0)
        for entry, value in published.items():
            if value is not None:
                assert other.get(entry, 0) == value
        assert all(other.get(h, 0) >= 0 for h in hidden)
        if other[key] == truth.get(key, 0):  # pragma: no cover - direction[j] != 0
            found.add(key)
    return found
