"""Regions from ISO 3166-2 (pycountry): first level only, coarse, named officially."""

from __future__ import annotations

import json
import subprocess
import sys

import pycountry
import pytest

from tests.support.product import REPO
from vault import regions, regions_table


class TestRegions:
    def test_every_country_of_concern_is_an_iso_country(self) -> None:
        for code in regions.COUNTRIES:
            assert pycountry.countries.get(alpha_2=code) is not None, code
        assert set(regions.FIELD_COUNTRIES) <= set(regions.COUNTRIES)

    def test_first_level_only(self) -> None:
        """No district, prefecture or commune inside a region: never finer than level 1."""
        for country, listed in regions.REGIONS.items():
            for code in listed:
                subdivision = pycountry.subdivisions.get(code=code)
                assert subdivision is not None and subdivision.country_code == country
                assert subdivision.parent_code is None, code

    def test_every_first_level_region_of_a_country_is_offered(self) -> None:
        """Uganda: 4 regions, not its 135 districts; the DR Congo: its 26 provinces."""
        assert sorted(regions.REGIONS["UG"]) == ["UG-C", "UG-E", "UG-N", "UG-W"]
        assert len(regions.REGIONS["CD"]) == 26
        assert regions.REGIONS["CD"]["CD-NK"] == "Nord-Kivu"

    def test_burundi_keeps_its_18_provinces(self) -> None:
        """The names refugees use. A pycountry update bringing the 2025 reform fails
        here: review the list with the field team before accepting it."""
        assert len(regions.REGIONS["BI"]) == 18
        assert regions.REGIONS["BI"]["BI-GI"] == "Gitega"

    def test_same_names_are_told_apart(self) -> None:
        assert regions.REGIONS["MZ"]["MZ-L"] == "Maputo (MZ-L)"
        assert regions.REGIONS["MZ"]["MZ-MPM"] == "Maputo (MZ-MPM)"
        for listed in regions.REGIONS.values():
            assert len(set(listed.values())) == len(listed)

    @pytest.mark.parametrize("country", sorted(regions.TOO_FINE))
    def test_a_first_level_of_municipalities_is_not_offered(self, country: str) -> None:
        assert regions.first_level(country) == {}

    def test_offered_regions_are_coarse(self) -> None:
        """A country offered with regions has a first level of provinces, states or
        regions: never municipalities or local councils (see TOO_FINE)."""
        fine = {"Municipality", "Urban municipality", "Local council", "Commune", "Rayon"}
        for country, listed in regions.REGIONS.items():
            kinds = [pycountry.subdivisions.get(code=code).type for code in listed]
            assert sum(kind in fine for kind in kinds) <= 1, country  # a capital may be one

    def test_a_small_territory_comes_alone(self) -> None:
        assert regions.first_level("VA") == {}


class TestTable:
    def test_the_written_table_is_what_pycountry_gives(self) -> None:
        """vault/regions_table.py is pycountry's first level of every country offered:
        after a pycountry update, `python -m vault.regions` writes it again."""
        assert regions_table.TABLE == {
            country: regions.first_level(country) for country in regions.COUNTRIES
        }
        assert {country: dict(listed) for country, listed in regions.REGIONS.items()} == (
            regions_table.TABLE
        )

    def test_the_command_writes_the_table(self) -> None:
        namespace: dict[str, object] = {}
        exec(regions.render_table(), namespace)  # noqa: S102  # nosec B102: our own text
        assert namespace["TABLE"] == regions_table.TABLE

    def test_the_regions_offered_need_no_pycountry(self) -> None:
        """pycountry's database (~5 MiB per process) is loaded only by `first_level`."""
        code = (
            "import json, sys\n"
            "from vault.regions import REGIONS\n"
            "from source_app import forms_labels\n"
            "assert REGIONS['CD']['CD-NK'] == 'Nord-Kivu'\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pycountry'))))\n"
        )
        done = subprocess.run(  # nosec B603: our interpreter, our code
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
        )
        assert json.loads(done.stdout) == []
