"""Countries and first-level regions a source may pick: coarse by design.

Codes are ISO 3166-1 (countries) and ISO 3166-2 (regions). No finer place, no GPS, no
map: a village can identify a survivor. The countries offered are those of concern to
WWoW (`COUNTRIES`); their regions come from ISO 3166-2 as maintained in pycountry
(pinned in requirements.lock), first level only: a subdivision with a parent (a
district, a prefecture inside a region) is never offered.

Region names are shown in their official form (ISO 3166-2's name, as pycountry gives
it), never translated; two regions of one country with the same name (Maputo the
province, Maputo the city) are told apart by their code. Country names are shown in the
reader's language from CLDR (Babel), so they need no catalogue entry.

A country whose first level is too fine to be coarse (municipalities: Slovenia, North
Macedonia, Malta...) or absent (small territories) is offered alone: `TOO_FINE` names
the former; a test checks that every country offered with regions has a coarse first
level. Burundi: ISO 3166-2 still lists the 18 provinces in use before the 2025 reform,
the names that refugees met in Rwanda still use; review with the field team when a
pycountry update changes that (tests/unit/vault/test_regions.py will notice).

The regions of the countries offered (`REGIONS`) are read from `vault/regions_table.py`,
written from pycountry by `python -m vault.regions` and checked against it by the tests:
pycountry's ISO 3166-2 database, once loaded, takes about 5 MiB in each process, which
every worker of the source interface paid at import for some 500 names. `first_level`
still asks pycountry, for any other country (loaded on first call only).
"""

from __future__ import annotations

from collections import Counter
from pprint import pformat
from types import MappingProxyType

from vault.regions_table import TABLE

__all__ = ["COUNTRIES", "FIELD_COUNTRIES", "REGIONS", "TOO_FINE", "first_level", "render_table"]

# Countries of concern, offered in the source's country list (ISO 3166-1 alpha-2). The
# list stays short on purpose: every country costs page weight on a slow Tor circuit,
# and a source elsewhere can still describe the place in words.
COUNTRIES = (
    "AF", "BF", "BI", "CD", "CF", "CM", "CO", "ET", "GN", "HT", "IQ", "KE", "LY", "ML",
    "MM", "MZ", "NE", "NG", "RW", "SD", "SO", "SS", "SY", "TD", "TZ", "UA", "UG", "YE",
)  # fmt: skip
# Where WWoW works: their regions are on the form at once; for another country the
# source asks for its regions with one button (see docs/source-experience.md).
FIELD_COUNTRIES = ("BI", "CD", "GN", "RW")
# First-level subdivisions that are municipalities or local councils: too fine to keep
# a place coarse. Such a country is offered without regions.
TOO_FINE = frozenset({"AZ", "LV", "MK", "MT", "SI"})


def first_level(country: str) -> dict[str, str]:
    """Region code -> shown name, for a country's first-level subdivisions."""
    if country in TOO_FINE:
        return {}
    import pycountry  # only when asked: see the module's docstring

    found = [
        subdivision
        for subdivision in pycountry.subdivisions.get(country_code=country) or ()
        if subdivision.parent_code is None
    ]
    repeated = Counter(subdivision.name for subdivision in found)
    return {
        subdivision.code: (
            f"{subdivision.name} ({subdivision.code})"
            if repeated[subdivision.name] > 1
            else subdivision.name
        )
        for subdivision in sorted(found, key=lambda s: str(s.code))
    }


REGIONS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType(
    {country: MappingProxyType(TABLE[country]) for country in COUNTRIES}
)


def render_table() -> str:
    """The text of `vault/regions_table.py`: `first_level` of every country offered."""
    table = {country: first_level(country) for country in COUNTRIES}
    return (
        '"""First-level regions of the countries offered, from pycountry (ISO 3166-2).\n\n'
        "Written by `python -m vault.regions > vault/regions_table.py` (then `ruff format`);\n"
        "do not edit. The tests check it against pycountry: after a pycountry update, write\n"
        'it again and review the changes (vault/regions.py).\n"""\n\n'
        "TABLE: dict[str, dict[str, str]] = " + pformat(table, width=88, sort_dicts=False) + "\n"
    )


if __name__ == "__main__":
    print(render_table(), end="")
