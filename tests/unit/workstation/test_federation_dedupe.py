"""Counting an incident once across organisations: descriptors, the private set
intersection exchange (real openmined-psi), exclusions, and the observatory's combined
release (real suppression code). Signatures are in the integration tests."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from typing import Any

import pytest

from workstation.observatory.combine import combine
from workstation.observatory.dedupe import (
    DedupeError,
    Scope,
    answer_request,
    apply_exclusions,
    counted_by,
    incident_descriptors,
    make_request,
    match,
)
from workstation.observatory.release import ReleaseSpec, build_release, canonical
from workstation.observatory.release_input import ACTS, PERPETRATORS, ReleaseRow
from workstation.observatory.release_table import TOTAL

SCOPE = Scope(("CD",), "2025-01", "2025-06")
SPEC = ReleaseSpec(("period", "region", "act"), "2025-01", "2025-06", ("CD",))
REGIONS = ("CD-NK", "CD-SK", "CD-IT")


def row(ident: str, **over: Any) -> ReleaseRow:
    base: dict[str, Any] = {
        "incident_id": ident,
        "date": dt.date(2025, 3, 10),
        "precision": "day",
        "country": "CD",
        "region": "CD-NK",
        "acts": ("rape",),
        "victim_sex": "female",
        "age_band": "18-29",
        "victim_count": 1,
        "perpetrator": "armed_group",
        "consent_statistics": True,
    }
    base.update(over)
    return ReleaseRow(**base)


def organisation_rows(prefix: str, n: int, seed: int) -> list[ReleaseRow]:
    """n incidents, each alone in its (day, region, act, perpetrator): no two match."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            row(
                f"{prefix}-incident-{i}",
                date=dt.date(2025, 1, 1) + dt.timedelta(days=i * 9 % 180),
                region=REGIONS[i % 3],
                acts=(ACTS[(i // 3) % 4],),
                perpetrator=PERPETRATORS[seed % 4],
                victim_count=rng.randint(1, 3),
            )
        )
    return out


def test_dates_four_days_apart_always_match_eight_never() -> None:
    for start in range(0, 40):
        first = dt.date(2025, 2, 1) + dt.timedelta(days=start)
        for gap in range(0, 12):
            a = incident_descriptors([row("a", date=first)], SCOPE)["a"]
            b = incident_descriptors([row("b", date=first + dt.timedelta(days=gap))], SCOPE)["b"]
            shared = set(a) & set(b)
            if gap <= 4:
                assert shared, (first, gap)
            if gap >= 8:
                assert not shared, (first, gap)


def test_descriptors_need_place_act_and_perpetrator_to_agree() -> None:
    base = set(incident_descriptors([row("a")], SCOPE)["a"])
    for change in (
        {"region": "CD-SK"},
        {"acts": ("sexual_slavery",)},
        {"perpetrator": "police"},
    ):
        assert not base & set(incident_descriptors([row("b", **change)], SCOPE)["b"]), change
    # Victims' numbers, sex and age are not compared (they vary between accounts).
    other = row("b", victim_count=3, victim_sex="male", age_band="30-49")
    assert base & set(incident_descriptors([other], SCOPE)["b"])
    # The principal act over all the incident's rows; the first known perpetrator.
    two = [row("c", acts=("sexual_slavery",)), row("c", acts=("rape",), perpetrator="unknown")]
    assert base & set(incident_descriptors(two, SCOPE)["c"])


def test_month_year_and_refused_incidents() -> None:
    month = row("m", date=dt.date(2025, 3, 1), precision="month")
    year = row("y", date=dt.date(2025, 1, 1), precision="year")
    refused = row("r", consent_statistics=False)
    outside = row("o", date=dt.date(2025, 8, 2))
    found = incident_descriptors([month, year, refused, outside], SCOPE)
    assert list(found) == ["m"]
    assert found["m"] == ["v1|CD|CD-NK|rape|armed_group|m:2025-03"]
    # A month-precision incident does not match a day-precision one (no false match on
    # a whole month's incidents).
    assert not set(found["m"]) & set(incident_descriptors([row("d")], SCOPE)["d"])


def test_counted_by_is_the_identity_sorting_first() -> None:
    assert counted_by(["ORG-B", "ORG-A", "ORG-C"]) == "ORG-A"


def exchange(
    asker_rows: list[ReleaseRow], answerer_rows: list[ReleaseRow]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    request, state = make_request("ORG-B", "ORG-A", SCOPE, asker_rows)
    response = answer_request(request, "ORG-A", answerer_rows)
    return request, state, response, match(response, state)


def test_the_shared_incident_is_excluded_by_the_later_organisation_only() -> None:
    a_rows = organisation_rows("a", 40, 1)
    b_rows = organisation_rows("b", 30, 2)
    # One incident both hold, coded two days apart, with another victim count.
    shared_a = a_rows[5]
    a_rows.append(row("a-shared", date=dt.date(2025, 4, 20), region="CD-SK"))
    b_rows.append(row("b-shared", date=dt.date(2025, 4, 22), region="CD-SK", victim_count=2))
    assert shared_a.incident_id != "b-shared"
    request, _state, response, exclusions = exchange(b_rows, a_rows)
    assert exclusions["incidents"] == ["b-shared"]
    assert exclusions["peer"] == "ORG-A" and exclusions["organisation"] == "ORG-B"
    # Each side learns the other's set size, nothing more: no descriptor, place, date
    # or incident id of either side is in what crosses.
    crossing = canonical(request) + canonical(response)
    for rows in (a_rows, b_rows):
        for r in rows:
            assert r.incident_id.encode() not in crossing
        for descriptors in incident_descriptors(rows, SCOPE).values():
            for d in descriptors:
                assert d.encode() not in crossing
    assert b"CD-SK" not in crossing and b"rape" not in crossing
    assert request["items"] == 62 and response["items"] == 82  # two per incident
    kept, statement, excluded = apply_exclusions(b_rows, [exclusions], "ORG-B", SPEC)
    assert excluded == 1 and "b-shared" not in {r.incident_id for r in kept}
    assert statement["excluded_against"] == ["ORG-A"]


def test_an_incident_only_the_answerer_holds_stays_unknown_to_the_asker() -> None:
    a_rows = organisation_rows("a", 20, 1)
    b_rows = organisation_rows("b", 20, 2)
    _r, _s, _resp, exclusions = exchange(b_rows, a_rows)
    assert exclusions["incidents"] == []
    assert exclusions["peer_items"] == 40  # only the number of descriptors


def test_wrong_direction_replay_size_and_mismatched_responses_are_refused() -> None:
    rows = organisation_rows("a", 5, 1)
    with pytest.raises(DedupeError, match="asks"):
        make_request("ORG-A", "ORG-B", SCOPE, rows)
    request, state = make_request("ORG-B", "ORG-A", SCOPE, rows)
    with pytest.raises(DedupeError, match="another organisation"):
        answer_request(request, "ORG-C", rows)
    with pytest.raises(DedupeError, match="replay"):
        answer_request(request, "ORG-A", rows, answered=[request["id"]])
    with pytest.raises(DedupeError, match="at most 5"):
        answer_request(request, "ORG-A", rows, max_items=5)
    lying = dict(request, items=3)
    with pytest.raises(DedupeError, match="size"):
        answer_request(lying, "ORG-A", rows)
    other_request, _other_state = make_request("ORG-B", "ORG-A", SCOPE, rows)
    response = answer_request(other_request, "ORG-A", rows)
    with pytest.raises(DedupeError, match="another request"):
        match(response, state)
    good = answer_request(request, "ORG-A", rows)
    with pytest.raises(DedupeError, match="another scope"):
        match(dict(good, scope={**good["scope"], "last_month": "2025-12"}), state)
    with pytest.raises(DedupeError, match="sizes"):
        match(dict(good, items=good["items"] + 1), state)


def test_exclusions_must_be_ours_against_an_earlier_peer_and_cover_the_release() -> None:
    rows = organisation_rows("b", 5, 2)
    _r, _s, _resp, exclusions = exchange(rows, organisation_rows("a", 5, 1))
    with pytest.raises(DedupeError, match="not ORG-C"):
        apply_exclusions(rows, [exclusions], "ORG-C", SPEC)
    with pytest.raises(DedupeError, match="two exclusions"):
        apply_exclusions(rows, [exclusions, exclusions], "ORG-B", SPEC)
    wider = ReleaseSpec(SPEC.dimensions, "2025-01", "2025-12", ("CD",))
    with pytest.raises(DedupeError, match="did not cover"):
        apply_exclusions(rows, [exclusions], "ORG-B", wider)
    everywhere = ReleaseSpec(SPEC.dimensions, "2025-01", "2025-06", ())
    with pytest.raises(DedupeError, match="did not cover"):
        apply_exclusions(rows, [exclusions], "ORG-B", everywhere)


def federation_release(rows: list[ReleaseRow], own: str, against: list[str]) -> dict[str, Any]:
    statement = {"organisation": own, "excluded_against": against, "rule": "first"}
    return build_release(rows, SPEC, federation=statement).document


def three_organisations() -> tuple[list[list[ReleaseRow]], int]:
    """A, B, C with incidents dense enough to show totals; one incident all three hold
    and one B and C hold. Returns the rows each holds, and the true number of distinct
    victims. Each organisation's own incidents have their own perpetrator category, so
    that they match no other's (dense random incidents of one category in one region
    would: the false matches docs/observatory.md describes)."""
    rng = random.Random(7)
    orgs: list[list[ReleaseRow]] = [[], [], []]
    for o in range(3):
        for i in range(60):
            orgs[o].append(
                row(
                    f"o{o}-{i}",
                    date=dt.date(2025, rng.randint(1, 6), rng.randint(1, 28)),
                    region=rng.choice(REGIONS),
                    acts=(rng.choice(ACTS[:2]),),
                    victim_count=rng.randint(1, 3),
                    perpetrator=("state_forces", "police", "civilians")[o],
                )
            )
    all_three = {"date": dt.date(2025, 2, 14), "region": "CD-IT", "victim_count": 3}
    for o in range(3):
        orgs[o].append(row(f"o{o}-x", **all_three))
    for o in (1, 2):
        orgs[o].append(row(f"o{o}-y", date=dt.date(2025, 5, 3), victim_count=2))
    distinct = sum(r.victim_count for rows in orgs for r in rows) - 2 * 3 - 2
    return orgs, distinct


def test_combined_release_counts_a_shared_incident_once() -> None:
    orgs, distinct = three_organisations()
    names = ["ORG-A", "ORG-B", "ORG-C"]
    # B asks A; C asks A and B (real exchanges).
    excl_b = [exchange_between("ORG-B", orgs[1], "ORG-A", orgs[0])]
    excl_c = [
        exchange_between("ORG-C", orgs[2], "ORG-A", orgs[0]),
        exchange_between("ORG-C", orgs[2], "ORG-B", orgs[1]),
    ]
    assert excl_b[0]["incidents"] == ["o1-x"]
    assert excl_c[0]["incidents"] == ["o2-x"] and excl_c[1]["incidents"] == ["o2-x", "o2-y"]
    counted = [orgs[0]]
    for o, exclusions in ((1, excl_b), (2, excl_c)):
        kept, _statement, _n = apply_exclusions(orgs[o], exclusions, names[o], SPEC)
        counted.append(kept)
    documents = [
        federation_release(counted[0], "ORG-A", []),
        federation_release(counted[1], "ORG-B", ["ORG-A"]),
        federation_release(counted[2], "ORG-C", ["ORG-A", "ORG-B"]),
    ]
    combined = combine([(d, "F" * 40) for d in documents])
    values = {tuple(e["key"]): e["value"] for e in combined["entries"]}
    assert values[(TOTAL, TOTAL, TOTAL)] == distinct
    assert combined["records"] == 60 * 3 + 2  # x once, y once
    assert [s["organisation"] for s in combined["combined_from"]] == names
    assert "lower bound" in combined["method"]["combination"]
    # Every entry any input hid stays hidden; every shown one is the inputs' sum.
    for key, value in values.items():
        parts = [{tuple(e["key"]): e["value"] for e in d["entries"]}[key] for d in documents]
        if None in parts:
            assert value is None, key
        elif value is not None:
            assert value == sum(parts)
    assert combined["suppression"]["primary"] == len(
        {tuple(e["key"]) for d in documents for e in d["entries"] if e["value"] is None}
    )
    # Without the exclusions, the shared incidents would be counted twice: refused.
    double = federation_release(orgs[2], "ORG-C", ["ORG-A"])
    with pytest.raises(DedupeError, match="counted twice"):
        combine([(documents[0], "F"), (documents[1], "F"), (double, "F")])


def exchange_between(
    asker: str, asker_rows: list[ReleaseRow], answerer: str, answerer_rows: list[ReleaseRow]
) -> dict[str, Any]:
    request, state = make_request(asker, answerer, SCOPE, asker_rows)
    # Both travel as bytes: the state sealed on the asker's workstation, the messages
    # over the federation.
    state = json.loads(json.dumps(state))
    response = answer_request(json.loads(canonical(request)), answerer, answerer_rows)
    return match(json.loads(canonical(response)), state)


def test_combining_incompatible_releases_is_refused() -> None:
    rows = organisation_rows("a", 30, 1)
    a = federation_release(rows, "ORG-A", [])
    b = federation_release(organisation_rows("b", 30, 2), "ORG-B", ["ORG-A"])
    with pytest.raises(DedupeError, match="two releases or more"):
        combine([(a, "F")])
    with pytest.raises(DedupeError, match="two releases from"):
        combine([(a, "F"), (copy.deepcopy(a), "F")])
    other_table = build_release(
        rows,
        ReleaseSpec(("period", "region"), "2025-01", "2025-06", ("CD",)),
        federation={"organisation": "ORG-B", "excluded_against": ["ORG-A"]},
    ).document
    with pytest.raises(DedupeError, match="different tables"):
        combine([(a, "F"), (other_table, "F")])
    other_scope = build_release(
        rows,
        ReleaseSpec(SPEC.dimensions, "2025-01", "2025-06", ("CD",), k=6),
        federation={"organisation": "ORG-B", "excluded_against": ["ORG-A"]},
    ).document
    with pytest.raises(DedupeError, match="different k"):
        combine([(a, "F"), (other_scope, "F")])
    own = build_release(rows, SPEC).document  # not a release for the federation
    with pytest.raises(DedupeError, match="not a release for the federation"):
        combine([(own, "F"), (b, "F")])
    assert combine([(a, "F"), (b, "F")])["records"] == 60
