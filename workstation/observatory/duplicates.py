"""Likely duplicates: two records that may be one incident told twice.

A pair is a candidate only if nothing rules it out: the same country, regions that do
not differ, dates that may overlap (each as wide as its precision: a day inside a month
may be the same), and at least one act in common. The score (0 to 1) then adds:

    place        0.30  same region; 0.15 when one side does not know the region
    date         0.15  for any overlap, + 0.15 x (days in common / days either covers):
                       the same day scores 0.30, a day inside a year barely more than 0.15
    acts         0.30  x the share of acts in common (Jaccard)
    perpetrators 0.10  x the share of known perpetrator categories in common
    same source  0.10  a source telling the same thing twice (capped at 1.0)

Each part that scores gives a reason, so the analyst sees why a pair is suggested.
Records already linked are never suggested again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from workstation.observatory.model import IncidentRecord
from workstation.observatory.vocabulary import UNKNOWN

__all__ = [
    "DEFAULT_MIN_SCORE",
    "DuplicateSuggestion",
    "duplicates_of",
    "score_pair",
    "suggest_duplicates",
]

DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class DuplicateSuggestion:
    first: IncidentRecord
    second: IncidentRecord
    score: float
    reasons: tuple[str, ...]


def _jaccard(a: Iterable[str], b: Iterable[str]) -> tuple[float, list[str]]:
    left, right = set(a), set(b)
    if not left or not right:
        return 0.0, []
    common = sorted(left & right)
    return len(common) / len(left | right), common


def _ignore(_: str) -> None:
    pass


def score_pair(
    a: IncidentRecord, b: IncidentRecord, *, explain: bool = True
) -> tuple[float, list[str]] | None:
    """The score and its reasons (none unless `explain`: they cost more than the score),
    or None when the pair cannot be one incident."""
    if a.place.country != b.place.country:
        return None
    if a.place.region and b.place.region and a.place.region != b.place.region:
        return None
    overlap = a.date.overlap_days(b.date)
    if not overlap:
        return None
    acts, common_acts = _jaccard(a.act_categories, b.act_categories)
    if not common_acts:
        return None
    reasons: list[str] = []
    say = reasons.append if explain else _ignore
    score = 0.0
    if a.place.region and a.place.region == b.place.region:
        score += 0.30
        say(f"same region {a.place.region}")
    else:
        score += 0.15
        say(f"same country {a.place.country}, region unknown on one side")
    union = (max(a.date.end, b.date.end) - min(a.date.start, b.date.start)).days + 1
    score += 0.15 + 0.15 * overlap / union
    if explain:
        say(f"dates overlap ({a.date.text} and {b.date.text}: {overlap} day(s) in common)")
    score += 0.30 * acts
    say(f"acts in common: {', '.join(common_acts)}")
    known_a = [p for p in a.perpetrator_categories if p != UNKNOWN]
    known_b = [p for p in b.perpetrator_categories if p != UNKNOWN]
    perpetrators, common = _jaccard(known_a, known_b)
    if common:
        score += 0.10 * perpetrators
        say(f"perpetrators in common: {', '.join(common)}")
    if set(a.source_keys) & set(b.source_keys):
        score += 0.10
        say("the same source reported both")
    return min(1.0, round(score, 3)), reasons


def _overlapping(
    records: Iterable[IncidentRecord],
) -> Iterator[tuple[IncidentRecord, IncidentRecord]]:
    """Pairs whose dates may overlap: a sweep in order of first possible day, keeping only
    the records still "open" (not ended before the current one starts)."""
    active: list[IncidentRecord] = []
    for record in sorted(records, key=lambda r: (r.date.start, r.id)):
        active = [a for a in active if a.date.end >= record.date.start]
        for earlier in active:
            yield earlier, record
        active.append(record)


def _candidates(
    records: Sequence[IncidentRecord],
) -> Iterator[tuple[IncidentRecord, IncidentRecord]]:
    """Each pair that may be one incident once: same country, compatible regions (equal,
    or one unknown), overlapping dates. Thousands of records per country stay fast."""
    by_place: dict[str, dict[str | None, list[IncidentRecord]]] = {}
    for record in records:
        by_place.setdefault(record.place.country, {}).setdefault(record.place.region, []).append(
            record
        )
    for regions in by_place.values():
        unknown = regions.get(None, [])
        for region, members in regions.items():
            if region is None:
                yield from _overlapping(members)
                continue
            for a, b in _overlapping([*members, *unknown]):
                if a.place.region is not None or b.place.region is not None:
                    yield a, b


def _suggestion(a: IncidentRecord, b: IncidentRecord) -> DuplicateSuggestion:
    first, second = sorted((a, b), key=lambda r: (r.coded_at, r.id))
    scored = score_pair(first, second)
    if scored is None:  # the caller scored this pair already
        raise ValueError("not a candidate")
    return DuplicateSuggestion(first, second, scored[0], tuple(scored[1]))


def suggest_duplicates(
    records: Sequence[IncidentRecord],
    min_score: float = DEFAULT_MIN_SCORE,
    limit: int | None = None,
) -> list[DuplicateSuggestion]:
    """Pairs of records in different groups scoring at least `min_score`, best first (the
    best `limit` only, if given; their reasons are worked out for those alone)."""
    scored = []
    for a, b in _candidates(records):
        if a.group == b.group:
            continue
        result = score_pair(a, b, explain=False)
        if result is not None and result[0] >= min_score:
            first, second = sorted((a, b), key=lambda r: (r.coded_at, r.id))
            scored.append((-result[0], first.coded_at, first.id, second.id, first, second))
    scored.sort(key=lambda item: item[:4])
    return [_suggestion(item[4], item[5]) for item in scored[:limit]]


def duplicates_of(
    record: IncidentRecord,
    records: Iterable[IncidentRecord],
    min_score: float = DEFAULT_MIN_SCORE,
) -> list[DuplicateSuggestion]:
    """The records outside `record`'s group that may be the same incident, best first:
    what the analyst checks right after coding a record (one pass over the others)."""
    found = []
    for other in records:
        if other.group == record.group:
            continue
        scored = score_pair(record, other)
        if scored is not None and scored[0] >= min_score:
            found.append(DuplicateSuggestion(record, other, scored[0], tuple(scored[1])))
    return sorted(found, key=lambda s: (-s.score, s.second.coded_at, s.second.id))
