"""Regions from ISO 3166-2 (pycountry): first level only, coarse, named officially."""

from __future__ import annotations

import pycountry
import pytest

from vault import regions


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
