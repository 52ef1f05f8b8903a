"""The directory body a peer sends, checked strictly (pure logic), and the filters."""

from __future__ import annotations

from typing import Any

import pytest

from vault.services.directory import (
    LIST_MAX,
    MAX_ENTRIES,
    DirectoryRefusedError,
    Entry,
    PeerEntry,
    filter_entries,
    parse_body,
    split_words,
)


def _entry(n: int = 0, **changes: Any) -> dict[str, Any]:
    return {
        "id": f"{n:032x}",
        "organisation": "Clinique  Espoir",
        "profession": "medical",
        "regions": ["Goma", "Rubavu"],
        "languages": ["Swahili"],
        "availability": "",
        **changes,
    }


def test_a_well_formed_directory_is_read_and_spaces_normalised() -> None:
    version, entries = parse_body({"version": 3, "entries": [_entry(1), _entry(2)]})
    assert version == 3
    assert [i for i, _e in entries] == [f"{1:032x}", f"{2:032x}"]
    assert entries[0][1] == Entry(
        "Clinique Espoir", "medical", ("Goma", "Rubavu"), ("Swahili",), ""
    )
    assert parse_body({"version": 1, "entries": []}) == (1, [])


@pytest.mark.parametrize(
    "body",
    [
        {"version": 1},
        {"version": 1, "entries": [], "extra": 1},
        {"version": 0, "entries": []},
        {"version": -2, "entries": []},
        {"version": True, "entries": []},
        {"version": "2", "entries": []},
        {"version": 2**31, "entries": []},
        {"version": 1, "entries": {}},
        {"version": 1, "entries": [_entry()] * 2},  # an id twice
        {"version": 1, "entries": [_entry(id="ABC")]},
        {"version": 1, "entries": [_entry(id="A" * 32)]},  # ids are lower-case hex
        {"version": 1, "entries": [{**_entry(), "contact": "+250"}]},
        {"version": 1, "entries": [{k: v for k, v in _entry().items() if k != "languages"}]},
        {"version": 1, "entries": [_entry(organisation="")]},
        {"version": 1, "entries": [_entry(organisation="x" * 201)]},
        {"version": 1, "entries": [_entry(profession=7)]},
        {"version": 1, "entries": [_entry(regions="Goma")]},
        {"version": 1, "entries": [_entry(regions=["Goma"] * (LIST_MAX + 1))]},
        {"version": 1, "entries": [_entry(regions=["x" * 65])]},
        {"version": 1, "entries": [_entry(languages=[""])]},
        {"version": 1, "entries": [_entry(availability="a\x00b")]},
        {"version": 1, "entries": [_entry(availability=None)]},
        {"version": 1, "entries": ["not an entry"]},
        {"version": 1, "entries": [_entry(n) for n in range(MAX_ENTRIES + 1)]},
    ],
)
def test_anything_else_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(DirectoryRefusedError):
        parse_body(body)


def _peer_entry(profession: str, regions: tuple[str, ...], languages: tuple[str, ...]) -> PeerEntry:
    return PeerEntry("ngo", Entry("Org", profession, regions, languages, ""))


def test_filters_match_any_region_or_language_ignoring_case_and_profession_exactly() -> None:
    nurse = _peer_entry("medical", ("North Kivu", "Goma"), ("Swahili", "French"))
    lawyer = _peer_entry("legal", ("Bujumbura",), ("Kirundi",))
    both = [nurse, lawyer]
    assert filter_entries(both) == both
    assert filter_entries(both, region="kivu") == [nurse]
    assert filter_entries(both, language="KIRUNDI") == [lawyer]
    assert filter_entries(both, profession="Legal") == [lawyer]
    assert filter_entries(both, profession="leg") == []
    assert filter_entries(both, region="goma", language="kirundi") == []
    assert filter_entries(both, region="  ", language=" ") == both


def test_form_lists_are_split_on_commas() -> None:
    assert split_words(" Huye ,, Musanze  North ,") == ("Huye", "Musanze North")
    assert split_words("") == ()
