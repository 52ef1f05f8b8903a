"""How `incident add/edit` options combine with the prefilled (or stored) acts and place."""

from __future__ import annotations

import click
import pytest

from backupctl.airgap.cmd_incidents import _acts, _place
from workstation.observatory.model import Act, IncidentInvalidError, Place, VictimGroup

WOMEN = (VictimGroup("female", "18-29", 2),)
BASE = (Act("rape", WOMEN, ("armed_group",)), Act("forced_nudity", WOMEN, ("armed_group",)))


class TestActs:
    """Categories, then victims and perpetrators: per act, else for all, else the base's."""

    def test_nothing_given_keeps_the_base(self) -> None:
        assert _acts(BASE, (), (), ()) == BASE

    def test_victims_for_all_and_for_one_act(self) -> None:
        acts = _acts(BASE, (), ("female:18-29:3", "forced_nudity=male:12-17:1"), ())
        assert acts[0].victims == (VictimGroup("female", "18-29", 3),)
        assert acts[1].victims == (VictimGroup("male", "12-17", 1),)
        assert acts[1].perpetrators == ("armed_group",)

    def test_new_categories_take_the_base_victims(self) -> None:
        acts = _acts(BASE, ("rape", "sexual_slavery"), (), ("sexual_slavery=police",))
        assert [a.category for a in acts] == ["rape", "sexual_slavery"]
        assert acts[1].victims == WOMEN and acts[1].perpetrators == ("police",)
        assert _acts((), ("rape",), (), ())[0].perpetrators == ("unknown",)

    def test_an_option_for_an_act_the_record_lacks(self) -> None:
        with pytest.raises(click.BadParameter, match="other: not an act of this record"):
            _acts(BASE, (), ("other=female:18-29:1",), ())
        with pytest.raises(click.BadParameter, match="SEX:AGE_BAND:COUNT"):
            _acts(BASE, (), ("female:two",), ())


class TestPlace:
    """A region names its country; a new country drops the old region."""

    def test_place(self) -> None:
        base = Place("CD", "CD-SK")
        assert _place(base, None, None, False) == base
        assert _place(base, None, None, True) == Place("CD")
        assert _place(base, None, "cd-nk", False) == Place("CD", "CD-NK")
        assert _place(base, "bi", None, False) == Place("BI")
        assert _place(base, "CD", None, False) == base
        with pytest.raises(IncidentInvalidError, match="the report gives none"):
            _place(None, None, None, False)
