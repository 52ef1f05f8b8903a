"""A table of counts with all its margins, small-cell suppression, and an audit that no
suppressed entry can be recovered from what is published.

The table crosses n dimensions. An *entry* is a cell (one category in every dimension)
or a margin (the total `*` in one or more dimensions); the grand total is all `*`. A
*line* is the set of entries that differ in one dimension only, fixed elsewhere: its
categories and their total, tied by one equation (total = sum of the categories). Every
published relation between entries is a sum of lines, so an attacker holding the
published values knows exactly the line equations with the visible values put in.

Primary suppression: an entry is hidden when 0 < incidents < k (the number of distinct
incidents behind it; victims >= incidents, so fewer than k victims is hidden too). A
zero is published: it is no one.

Complementary suppression (`suppress`), to a fixpoint:

1. every line holding a hidden entry holds at least two;
2. in every line whose total is published, the hidden categories add up to at least k
   victims (so that line alone never bounds a hidden entry below k);

each time taking the smallest published entry > 0 of the line (fewest victims lost;
ties broken by a fixed order, so the same table always gives the same pattern). A zero
is never taken: every hidden entry stays > 0, so whatever moves the equations allow
can be taken a little in both directions.

These rules are necessary, not sufficient (in two dimensions, two cycles of hidden
cells joined by one cell still give that cell away). So `audit` then checks the
pattern exactly: with the published values put in, the line equations are a linear
system over the hidden entries; an entry is recovered if and only if it is the same in
every solution (the reduced row echelon form has a row that is that entry alone). The
audit brings the system to echelon form by sparse elimination (minimum-degree order),
draws one solution of the homogeneous system at random and calls recovered the entries
that come out zero: a recovered entry always does, an ambiguous one with probability
2^-61 (and is then hidden more: the error can only over-protect). The arithmetic is
over the integers modulo the prime 2^61 - 1 (exact, no rounding; the equations have
coefficients 0 and +-1, and the only way modular arithmetic could call a recovered entry
hidden is this prime dividing one of the system's minors: for a 61-bit prime, a chance
far below any other risk here). The tests check the audit against an independent dense
elimination over the rationals.
Each recovered entry makes the smallest published entry > 0 of each of its lines hidden
(an entry recovered again widens further: the lines of the hidden entries around it, one
step more each time),
and the rules and the audit run again, until no hidden entry can be recovered. Since
every hidden entry is > 0 and not determined, another solution of the published system
exists in which it differs: published margins minus visible cells leave it ambiguous.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["TOTAL", "Table", "audit", "line_keys", "suppress"]

TOTAL = "*"
Key = tuple[str, ...]
# The prime of the exact audit (see the module's docstring).
_PRIME = 2**61 - 1


@dataclass
class Table:
    """Counts over `categories` (per dimension, in order); `victims` and `incidents` per
    entry, margins included; entries not present are zero."""

    dimensions: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    victims: dict[Key, int] = field(default_factory=dict)
    incidents: dict[Key, int] = field(default_factory=dict)

    @classmethod
    def from_cells(
        cls,
        dimensions: Sequence[str],
        categories: Sequence[Sequence[str]],
        cells: Iterable[tuple[Key, int, str]],
    ) -> Table:
        """Build from (cell key, victims, incident id) contributions: margins summed,
        incidents counted once per entry."""
        table = cls(tuple(dimensions), tuple(tuple(c) for c in categories))
        seen: dict[Key, set[str]] = {}
        for key, victims, incident in cells:
            for entry in _generalisations(key):
                table.victims[entry] = table.victims.get(entry, 0) + victims
                seen.setdefault(entry, set()).add(incident)
        table.incidents = {entry: len(ids) for entry, ids in seen.items()}
        return table

    @classmethod
    def from_values(
        cls,
        dimensions: Sequence[str],
        categories: Sequence[Sequence[str]],
        values: dict[Key, int],
    ) -> Table:
        """Build from cell values alone (each victim its own incident): margins summed.
        For noisy (differentially private) cells and for tests."""
        table = cls(tuple(dimensions), tuple(tuple(c) for c in categories))
        for key, value in values.items():
            if value:
                for entry in _generalisations(key):
                    table.victims[entry] = table.victims.get(entry, 0) + value
        table.incidents = dict(table.victims)
        return table

    def entries(self) -> Iterator[Key]:
        """Every entry, margins included, in a fixed order."""
        yield from _product([(*cats, TOTAL) for cats in self.categories])

    def value(self, key: Key) -> int:
        return self.victims.get(key, 0)

    def is_cell(self, key: Key) -> bool:
        return TOTAL not in key


def _generalisations(key: Key) -> Iterator[Key]:
    """The cell itself and every margin it adds to."""
    n = len(key)
    for mask in range(1 << n):
        yield tuple(TOTAL if mask >> i & 1 else key[i] for i in range(n))


def _product(choices: Sequence[Sequence[str]]) -> Iterator[Key]:
    if not choices:
        yield ()
        return
    for head in choices[0]:
        for rest in _product(choices[1:]):
            yield (head, *rest)


def line_keys(table: Table, dim: int, key: Key) -> tuple[list[Key], Key]:
    """The line through `key` along dimension `dim`: its categories and its total."""
    members = [(*key[:dim], c, *key[dim + 1 :]) for c in table.categories[dim]]
    return members, (*key[:dim], TOTAL, *key[dim + 1 :])


def _lines_of(table: Table, key: Key) -> Iterator[tuple[int, Key]]:
    """Identifiers (dim, total key) of the lines an entry belongs to: one per dimension."""
    for dim in range(len(key)):
        yield dim, (*key[:dim], TOTAL, *key[dim + 1 :])


def _sort_key(table: Table, entry: Key) -> tuple[int, int, Key]:
    # Smallest first; among equals, a cell before a margin (a margin is read more).
    return (table.value(entry), sum(1 for v in entry if v == TOTAL), entry)


def primary(table: Table, k: int) -> set[Key]:
    """Entries with 0 < incidents < k (or 0 < victims < k)."""
    return {
        entry
        for entry in table.entries()
        if (0 < table.incidents.get(entry, 0) < k) or (0 < table.value(entry) < k)
    }


def _complete(table: Table, hidden: set[Key], k: int) -> None:
    """Rules 1 and 2 of the module's docstring, to a fixpoint (in place)."""
    queue = [line for entry in sorted(hidden) for line in _lines_of(table, entry)]
    queued = set(queue)
    while queue:
        line = queue.pop()
        queued.discard(line)
        dim, total = line
        members, _ = line_keys(table, dim, total)
        entries = [*members, total]
        hidden_here = [e for e in entries if e in hidden]
        if not hidden_here:
            continue
        hidden_cells = sum(table.value(e) for e in members if e in hidden)
        needs = len(hidden_here) < 2 or (total not in hidden and hidden_cells < k)
        if not needs:
            continue
        candidates = [e for e in entries if e not in hidden and table.value(e) > 0]
        if total not in hidden and len(hidden_here) >= 2:
            # Rule 2 only: more hidden categories; the total stays as long as one can.
            candidates = [e for e in candidates if e != total] or candidates
        if not candidates:  # pragma: no cover - a line with a hidden entry > 0 has a total > 0
            raise AssertionError("no complementary entry available")
        chosen = min(candidates, key=lambda e: _sort_key(table, e))
        hidden.add(chosen)
        for other in (line, *_lines_of(table, chosen)):
            if other not in queued:
                queued.add(other)
                queue.append(other)


def _equations(table: Table, hidden: set[Key]) -> list[dict[Key, int]]:
    """The line equations restricted to hidden entries (coefficients only: the constant
    side is known to the attacker and does not matter for what is determined)."""
    lines = {line for entry in hidden for line in _lines_of(table, entry)}
    equations = []
    for dim, total in sorted(lines):
        members, _ = line_keys(table, dim, total)
        row = {e: 1 for e in members if e in hidden}
        if total in hidden:
            row[total] = -1
        if row:
            equations.append(row)
    return equations


def _subtract(row: dict[Key, int], coef: int, other: dict[Key, int], p: int) -> None:
    """row -= coef * other (mod p), in place, dropping zeros."""
    for col, value in other.items():
        new = (row.get(col, 0) - coef * value) % p
        if new:
            row[col] = new
        else:
            row.pop(col, None)


def _determined_mod(equations: list[dict[Key, int]], p: int) -> set[Key]:
    """Entries the system pins to one value, modulo p.

    An entry is determined if and only if it is zero in every solution of the
    homogeneous system (its unit vector lies in the row space: the reduced row echelon
    form has a row that is that entry alone). Rather than reduce the echelon form fully
    (quadratic in the number of pivots), draw one solution at random: free entries get
    random values modulo p and the pivots follow by back substitution. An entry that is
    not determined is a non-zero linear function of the free values, so it comes out
    zero with probability 1/p (2^-61 per entry); an entry that is determined always
    comes out zero. So the test errs, if ever, on the safe side: it may call an
    ambiguous entry determined (one more entry hidden), never the reverse.

    The echelon form is sparse Gaussian elimination in the minimum-degree order: each
    step pivots on the entry in the fewest remaining equations, in the shortest of them
    (ties by a fixed order), which keeps the fill-in small."""
    keys = sorted({col for row in equations for col in row})
    index = {key: i for i, key in enumerate(keys)}
    rows: list[dict[int, int]] = []
    where: list[set[int]] = [set() for _ in keys]  # column -> active rows holding it
    for raw in equations:
        row = {index[col]: coef % p for col, coef in raw.items() if coef % p}
        if row:
            for col in row:
                where[col].add(len(rows))
            rows.append(row)
    heap = [(len(where[col]), col) for col in range(len(keys))]
    heapq.heapify(heap)
    pivoted: list[tuple[int, dict[int, int]]] = []  # (pivot column, its row), in order
    done = [False] * len(keys)
    while heap:
        count, col = heapq.heappop(heap)
        if done[col] or count != len(where[col]):
            continue  # stale: already pivoted, or its count changed (pushed again)
        done[col] = True
        if count == 0:
            continue  # in no remaining equation: free
        at = min(where[col], key=lambda r: (len(rows[r]), r))
        pivot_row = rows[at]
        inverse = pow(pivot_row[col], p - 2, p)
        pivot_row = {c: v * inverse % p for c, v in pivot_row.items()}
        for c in pivot_row:
            where[c].discard(at)
        touched = set(pivot_row)
        for other in list(where[col]):
            row = rows[other]
            factor = row[col]
            for c, v in pivot_row.items():
                new = (row.get(c, 0) - factor * v) % p
                if new:
                    if c not in row:
                        where[c].add(other)
                    row[c] = new
                elif c in row:
                    del row[c]
                    where[c].discard(other)
        pivoted.append((col, pivot_row))
        for c in touched:
            if not done[c]:
                heapq.heappush(heap, (len(where[c]), c))
    # A pivot's row holds no earlier pivot (eliminated from every remaining equation
    # when it was chosen), only later pivots and free entries: solve the pivots last
    # first. Fixed seed: the same table always gives the same pattern. Not a secret:
    # what it draws decides nothing an attacker could use (an unlucky draw only hides
    # more).
    draw = random.Random(0x5EED)  # noqa: S311  # nosec B311
    solution: dict[int, int] = {}
    for col, row in reversed(pivoted):
        total = 0
        for c, coef in row.items():
            if c == col:
                continue
            if c not in solution:  # a free entry: any value
                solution[c] = draw.randrange(1, p)
            total += coef * solution[c]
        solution[col] = -total % p
    return {keys[col] for col, _ in pivoted if solution[col] == 0}


def audit(table: Table, hidden: set[Key]) -> set[Key]:
    """Hidden entries that the published values determine exactly (empty: safe)."""
    equations = _equations(table, hidden)
    return _determined_mod(equations, _PRIME) & hidden


def suppress(table: Table, k: int, *, seed: Iterable[Key] = ()) -> tuple[set[Key], set[Key]]:
    """(primary, all hidden entries) for `table` with threshold `k` (see the module).

    `seed`: entries to hide whatever their value (those an earlier release of the same
    table hid: hidden once, hidden in every revision); a zero among them stays shown."""
    if k < 1:
        raise ValueError("k must be at least 1")
    first = primary(table, k)
    hidden = first | {key for key in seed if table.value(key) > 0}
    stubborn: dict[Key, int] = {}
    while True:
        _complete(table, hidden, k)
        recovered = audit(table, hidden)
        if not recovered:
            return first, hidden
        # Widen the pattern at each recovered entry: the smallest published entry > 0
        # in each of its lines; if its lines are all hidden already, in a line of any
        # hidden entry. Terminates: with every entry > 0 hidden, the system is
        # homogeneous, and an entry > 0 cannot be pinned to 0.
        # An entry recovered again and again: widen further from it each time, through
        # the lines of the hidden entries around it (radius = times recovered).
        added = set()
        for entry in sorted(recovered):
            stubborn[entry] = stubborn.get(entry, 0) + 1
            for dim, total in _lines_around(table, hidden, entry, stubborn[entry]):
                members, _ = line_keys(table, dim, total)
                candidates = [
                    e for e in (*members, total) if e not in hidden and table.value(e) > 0
                ]
                if candidates:
                    added.add(min(candidates, key=lambda e: _sort_key(table, e)))
        if not added:
            candidates = _visible_neighbours(table, hidden, sorted(hidden))
            if not candidates:  # pragma: no cover - see above
                raise AssertionError("no entry left to hide")
            added.add(min(candidates, key=lambda e: _sort_key(table, e)))
        hidden |= added


def _lines_around(table: Table, hidden: set[Key], entry: Key, radius: int) -> set[tuple[int, Key]]:
    """The lines of `entry`, and (radius > 1) those of the hidden entries in them, and
    so on, `radius` steps out."""
    lines = set(_lines_of(table, entry))
    frontier = set(lines)
    for _ in range(radius - 1):
        reached = set()
        for dim, total in frontier:
            members, _ = line_keys(table, dim, total)
            for e in (*members, total):
                if e in hidden:
                    reached |= set(_lines_of(table, e))
        frontier = reached - lines
        lines |= frontier
        if not frontier:
            break
    return lines


def _visible_neighbours(table: Table, hidden: set[Key], around: Iterable[Key]) -> list[Key]:
    found = []
    for entry in around:
        for dim, total in _lines_of(table, entry):
            members, _ = line_keys(table, dim, total)
            found += [e for e in (*members, total) if e not in hidden and table.value(e) > 0]
        if found:
            return found
    return found
