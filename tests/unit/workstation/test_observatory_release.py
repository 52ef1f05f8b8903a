"""Releases: what is counted, what is never shown, and the attempts to re-identify
(narrow slices, totals minus visible cells, differencing two releases)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from tests.unit.workstation.observatory_attack import recoverable
from vault import reports
from vault.observatory_words import Words
from workstation.observatory import release_input
from workstation.observatory.charts import charts
from workstation.observatory.export import HxlError, hxl_rows, to_csv, to_json, validate_hxl
from workstation.observatory.release import (
    ReleaseError,
    ReleaseSpec,
    build_release,
    check_document,
)
from workstation.observatory.release_input import (
    ACTS,
    AGE_BANDS,
    PERPETRATORS,
    SEXES,
    ReleaseRow,
    RowError,
    row_from_json,
    row_to_json,
)
from workstation.observatory.release_ledger import Ledger, LedgerRefusalError, make_release
from workstation.observatory.release_table import TOTAL

REGIONS = ("CD-NK", "CD-SK", "CD-IT", "CD-KN")
SPEC = ReleaseSpec(("period", "region", "act"), "2025-01", "2025-06", ("CD",))


def row(n: int | str, **over: Any) -> ReleaseRow:
    base: dict[str, Any] = {
        "incident_id": f"i{n}",
        "date": dt.date(2025, 3, 1),
        "precision": "month",
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


def random_rows(n: int, seed: int, start: int = 0) -> list[ReleaseRow]:
    rng = random.Random(seed)
    return [
        row(
            start + i,
            date=dt.date(2025, rng.randint(1, 6), 1),
            region=rng.choice(REGIONS),
            acts=(rng.choice(ACTS[:4]),),
            victim_sex=rng.choice(SEXES),
            age_band=rng.choice(AGE_BANDS[2:]),
            victim_count=rng.randint(1, 3),
            perpetrator=rng.choice(PERPETRATORS),
        )
        for i in range(n)
    ]


def published(document: dict[str, Any]) -> dict[tuple[str, ...], int | None]:
    return {tuple(e["key"]): e["value"] for e in document["entries"]}


# -- the input row ------------------------------------------------------------------


def test_vocabularies_are_those_of_the_report() -> None:
    assert get_args(release_input.Act) == reports.VIOLENCE
    assert get_args(release_input.Sex) == reports.SEXES
    assert get_args(release_input.AgeBand) == reports.AGE_BANDS
    assert get_args(release_input.Perpetrator) == reports.PERPETRATORS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("acts", ("rape", "invented")),
        ("acts", ("forced_nudity", "rape")),  # not in the Protocol's order
        ("acts", ()),
        ("victim_sex", "woman"),
        ("age_band", "18-25"),
        ("perpetrator", "neighbour"),
        ("country", "cd"),
        ("region", "RW-01"),  # another country's region
        ("victim_count", 0),
        ("victim_count", True),
        ("incident_id", "../x"),
        ("date", dt.date(2025, 3, 2)),  # month precision on the 1st only
    ],
)
def test_a_row_outside_the_vocabulary_is_refused(field: str, value: Any) -> None:
    with pytest.raises(RowError):
        row(1, **{field: value})


def test_period_keys_and_json_round_trip() -> None:
    day = row(1, date=dt.date(2025, 3, 14), precision="day")
    span = row(2, date=dt.date(2025, 3, 1), precision="range", date_end=dt.date(2025, 4, 2))
    year = row(3, date=dt.date(2025, 1, 1), precision="year")
    assert (day.month, span.month, year.month) == ("2025-03", None, None)
    assert (day.year, span.year, year.year) == ("2025", "2025", "2025")
    for r in (day, span, year):
        assert row_from_json(row_to_json(r)) == r
    with pytest.raises(RowError):
        row_from_json({**row_to_json(day), "place": "village"})


# -- what is counted ------------------------------------------------------------------


def test_a_row_without_statistics_consent_never_counts() -> None:
    rows = random_rows(300, seed=1)
    refusing = [
        row("x1", region="CD-KN", consent_statistics=False, victim_count=40),
        row("x2", region="CD-NK", consent_statistics=False, acts=("forced_nudity",)),
    ]
    with_them = build_release(rows + refusing, SPEC)
    without = build_release(rows, SPEC)
    assert published(with_them.document) == published(without.document)
    assert with_them.document["records"] == without.document["records"] == 300
    assert all(r.consent_statistics for r in with_them.rows)


def test_principal_act_counts_each_victim_once() -> None:
    rows = [row(i, acts=("rape", "forced_nudity"), victim_count=2) for i in range(6)]
    made = build_release(rows, ReleaseSpec(("act",), "2025-01", "2025-06"))
    values = published(made.document)
    assert values[("rape",)] == 12
    assert values[("forced_nudity",)] == 0
    assert values[(TOTAL,)] == 12


def test_scope_keeps_only_rows_wholly_inside() -> None:
    rows = [
        row(1, date=dt.date(2025, 7, 1)),  # after
        row(2, date=dt.date(2025, 1, 1), precision="year"),  # the whole year: not inside
        row(3, country="BI", region="BI-BM"),  # another country
        *[row(10 + i) for i in range(5)],
    ]
    made = build_release(rows, SPEC)
    assert made.document["records"] == 5
    assert {r.incident_id for r in made.rows} == {f"i{10 + i}" for i in range(5)}


def test_bad_specs_are_refused() -> None:
    for kwargs in [
        {"dimensions": ("place",)},
        {"dimensions": ()},
        {"k": 1},
        {"first_month": "2025-07"},
        {"epsilon": 0.0},
        {"period_unit": "year"},  # a year release covers whole years
    ]:
        with pytest.raises(ReleaseError):
            ReleaseSpec(**{**SPEC.__dict__, **kwargs})


# -- narrow slices and totals minus visible cells -------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_no_small_count_and_no_hidden_entry_recoverable(seed: int) -> None:
    rows = random_rows(random.Random(seed).randint(40, 400), seed=seed)
    made = build_release(rows, SPEC)
    doc = made.document
    check_document(doc)
    values = published(doc)
    assert all(v is None or v == 0 or v >= 5 for v in values.values())
    cats = [d["categories"] for d in doc["dimensions"]]
    assert recoverable(cats, values, made.table.victims) == set()
    sup = doc["suppression"]
    assert sup["primary"] + sup["complementary"] == sum(v is None for v in values.values())


def test_one_victim_in_a_region_is_not_shown_anywhere() -> None:
    rows = [*random_rows(300, seed=7), row("lone", region="CD-BU", victim_count=1)]
    made = build_release(rows, SPEC)
    values = published(made.document)
    assert "CD-BU" in made.document["dimensions"][1]["categories"]
    for key, value in values.items():
        if key[1] == "CD-BU":
            # Hidden wherever the victim counts; a zero elsewhere is no one.
            assert value is None if made.table.value(key) else value == 0
    assert values[("2025-03", "CD-BU", TOTAL)] is None
    # And the grand total, although shown, cannot be split to find the count.
    cats = [d["categories"] for d in made.document["dimensions"]]
    assert recoverable(cats, values, made.table.victims) == set()


# -- differencing ---------------------------------------------------------------------


def test_differencing_two_releases_by_one_record_is_refused(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    rows = random_rows(300, seed=3)
    first = make_release(rows, SPEC, ledger)
    ledger.record(first, SPEC)
    with pytest.raises(LedgerRefusalError, match="singled out by difference"):
        make_release([*rows, row("new", region="CD-SK")], SPEC, ledger)
    # Re-coding one record (removed and added) is refused the same way.
    changed = [*rows[1:], row(rows[0].incident_id[1:], region="CD-KN")]
    with pytest.raises(LedgerRefusalError):
        make_release(changed, SPEC, ledger)


def test_a_revision_adding_k_incidents_per_cell_keeps_what_was_hidden(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    rows = random_rows(300, seed=4)
    first = make_release(rows, SPEC, ledger)
    ledger.record(first, SPEC)
    added = [row(f"n{i}", region="CD-IT", acts=("rape",)) for i in range(6)]
    second = make_release([*rows, *added], SPEC, ledger)
    assert first.hidden <= second.hidden
    before, after = published(first.document), published(second.document)
    # What changed between the two: only entries holding the 6 new victims, by 6.
    for key, value in after.items():
        if value is not None and before[key] is not None and value != before[key]:
            assert value - before[key] == 6
    # The strongest differencing attacker knows the added rows exactly: each figure the
    # revision shows, minus the new rows, is a figure of the first release. Together
    # with the first release, it still recovers nothing the first one hid.
    delta = {k: second.table.value(k) - first.table.value(k) for k in after}
    merged = dict(before)
    for key, value in after.items():
        if value is not None:
            assert merged[key] in (None, value - delta[key])
            merged[key] = value - delta[key]
    cats = [d["categories"] for d in first.document["dimensions"]]
    assert merged == before  # nothing the first release hid is shown by the second
    assert recoverable(cats, merged, first.table.victims) == set()
    assert recoverable(cats, after, second.table.victims) == set()


def test_another_table_over_the_same_incidents_is_refused(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    rows = random_rows(200, seed=5)
    first = make_release(rows, SPEC, ledger)
    ledger.record(first, SPEC)
    other = ReleaseSpec(("period", "victim_sex"), "2025-01", "2025-06", ("CD",))
    with pytest.raises(LedgerRefusalError, match="another table"):
        make_release(rows, other, ledger)
    # Disjoint periods: no incident in common, allowed.
    later = ReleaseSpec(("period", "victim_sex"), "2025-07", "2025-12", ("CD",))
    later_rows = [row(f"l{i}", date=dt.date(2025, 8, 1)) for i in range(10)]
    assert make_release(rows + later_rows, later, ledger).document["records"] == 10


def test_noisy_releases_spend_a_budget(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json", budget=2.0)
    rows = random_rows(200, seed=6)
    noisy = ReleaseSpec(**{**SPEC.__dict__, "epsilon": 1.0})
    for _ in range(2):
        made = make_release(rows, noisy, ledger)
        ledger.record(made, noisy)
    # One more record differs, but noise protects it: refused only for the budget.
    with pytest.raises(LedgerRefusalError, match="privacy budget"):
        make_release([*rows, row("new")], noisy, ledger)
    # A noisy release of other incidents is allowed.
    others = [row(f"o{i}", date=dt.date(2025, 8, 1)) for i in range(20)]
    later = ReleaseSpec(("period",), "2025-07", "2025-12", epsilon=1.0)
    assert make_release(others, later, ledger).document["method"]["differential_privacy"]
    assert oct((tmp_path / "ledger.json").stat().st_mode & 0o777) == "0o600"


def test_noise_through_opendp_is_recorded() -> None:
    rows = random_rows(300, seed=8)
    spec = ReleaseSpec(**{**SPEC.__dict__, "epsilon": 0.5})
    made = build_release(rows, spec)
    dp = made.document["method"]["differential_privacy"]
    assert dp["library"] == "opendp"
    assert dp["epsilon"] == 0.5
    assert dp["epsilon_table"] + dp["epsilon_records"] == pytest.approx(0.5)
    assert made.document["records_noisy"] is True
    assert "opendp" in made.document["software"]
    check_document(made.document)
    exact = build_release(rows, SPEC).table.victims
    noisy_cells = {k: v for k, v in made.table.victims.items() if TOTAL not in k}
    assert noisy_cells != {k: v for k, v in exact.items() if TOTAL not in k}
    # The same input twice does not give the same noise.
    again = build_release(rows, spec).table.victims
    assert again != made.table.victims


# -- the document ---------------------------------------------------------------------


def test_a_single_changed_count_is_detected_by_the_arithmetic() -> None:
    doc = build_release(random_rows(300, seed=9), SPEC).document
    check_document(doc)
    forged = copy.deepcopy(doc)
    values = published(doc)
    # A shown entry in a line whose entries are all shown: the sum no longer holds.
    # (Any other change is caught by the signature: see test_observatory_sign.)
    key = next(k for k in _fully_shown_lines(doc, values) if values[k])
    next(e for e in forged["entries"] if tuple(e["key"]) == key)["value"] += 1
    with pytest.raises(ReleaseError):
        check_document(forged)
    small = copy.deepcopy(doc)
    next(e for e in small["entries"] if e["value"] is None)["value"] = 2
    with pytest.raises(ReleaseError):
        check_document(small)


def _fully_shown_lines(
    doc: dict[str, Any], values: dict[tuple[str, ...], int | None]
) -> list[tuple[str, ...]]:
    cats = [d["categories"] for d in doc["dimensions"]]
    found = []
    for key in values:
        for dim in range(len(key)):
            if key[dim] != TOTAL:
                continue
            members = [(*key[:dim], c, *key[dim + 1 :]) for c in cats[dim]]
            if all(values[m] is not None for m in [*members, key]):
                found += members
    return found


def test_states_method_k_period_records_dimensions_and_software() -> None:
    doc = build_release(random_rows(100, seed=10), SPEC).document
    assert doc["method"]["k"] == 5
    assert doc["scope"] == {
        "countries": ["CD"],
        "first_month": "2025-01",
        "last_month": "2025-06",
        "period_unit": "month",
    }
    assert doc["records"] == 100
    assert [d["name"] for d in doc["dimensions"]] == ["period", "region", "act"]
    assert doc["software"]["backup"]
    assert doc["method"]["differential_privacy"] is None
    assert set(doc["suppression"]) == {"primary", "complementary", "entries"}


# -- exports and charts ---------------------------------------------------------------


def test_hxl_exports_validate_and_show_suppression_as_empty() -> None:
    spec = ReleaseSpec(("period", "region", "victim_sex"), "2025-01", "2025-06", ("CD",))
    doc = build_release(random_rows(300, seed=11), spec).document
    text = to_csv(doc)
    lines = text.splitlines()
    assert lines[1].split(",") == [
        "#date",
        "#adm1+code",
        "#affected+f",
        "#affected+m",
        "#affected+sex_other",
        "#affected+total",
        "#meta+total",
    ]
    assert any(",," in line for line in lines[2:])  # suppressed counts are empty
    objects = json.loads(to_json(doc))
    assert objects[0]["#date"] == "2025-01"
    assert any(o["#affected+f"] is None for o in objects)
    # libhxl rejects what our schema forbids.
    _labels, tags, rows = hxl_rows(doc)
    bad = [list(r) for r in rows]
    bad[0][0] = "March"
    with pytest.raises(HxlError):
        validate_hxl(tags, bad)


def test_charts_are_accessible_svg_without_script() -> None:
    doc = build_release([*random_rows(300, seed=12), row("lone", region="CD-BU")], SPEC).document
    made = charts(doc)
    assert set(made) == {"time", "region", "act"}
    for name, svg in made.items():
        assert svg.startswith("<svg ")
        assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
        assert not re.search(r"<script|on\w+=|href=|javascript:", svg, re.I)
        assert len(svg.encode()) < 10_000, name
    # Categories in words (the official region name), never as codes.
    assert ">Rape</text>" in made["act"] and ">rape<" not in made["act"]
    assert ">March 2025</text>" in made["time"]
    # The lone region's total is suppressed, drawn as such and never as 0.
    region = made["region"]
    assert ">Bas-Uélé</text>" in region and "CD-BU" not in region
    after = region.split(">Bas-Uélé</text>", 1)[1]
    assert after.split("</g>", 1)[0].count("suppressed") == 1


def test_charts_in_the_release_language() -> None:
    doc = build_release([*random_rows(300, seed=12), row("lone", region="CD-BU")], SPEC).document
    french = charts(doc, Words.of("fr"))
    assert set(french) == {"time", "region", "act"}
    act = french["act"]
    assert 'lang="fr"' in act and "direction" not in act
    assert '<title id="t-act">Victimes par acte principal</title>' in act
    assert ">Viol</text>" in act and ">Esclavage sexuel</text>" in act
    assert "Chaque barre porte sa catégorie et sa valeur." in act
    assert ">mars 2025</text>" in french["time"]
    assert "Congo-Kinshasa, de janvier 2025 à juin 2025" in french["time"]
    region = french["region"].split(">Bas-Uélé</text>", 1)[1]
    assert region.split("</g>", 1)[0].count("masqué") == 1
    for svg in french.values():
        assert not re.search(r"Victims|suppressed|categories", svg)
    arabic = charts(doc, Words.of("ar"))["act"]
    assert 'lang="ar" direction="rtl"' in arabic and ">اغتصاب</text>" in arabic
    # The longest label fits: the label column widens with it.
    assert max(len(s.encode()) for s in (*french.values(), arabic)) < 12_000
    with pytest.raises(ValueError, match="no observatory catalogue"):
        Words.of("de")
