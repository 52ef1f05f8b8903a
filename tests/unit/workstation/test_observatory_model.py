"""Incident records: validation against the closed vocabularies and ISO 3166-2, dates
with their precision, the prefill from an ALERT report, consent and grouping."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from vault import reports
from vault.consent_record import Answer, fold
from workstation.consent import ConsentReading
from workstation.observatory.incidents import consent_of, group_incidents
from workstation.observatory.model import (
    Act,
    DatePrecision,
    IncidentDate,
    IncidentInvalidError,
    IncidentRecord,
    Place,
    SourceLink,
    VictimGroup,
)
from workstation.observatory.prefill import prefill_from_report

TODAY = dt.date(2026, 12, 5)
SOURCE_A = "11111111-1111-4111-8111-111111111111"
SOURCE_B = "22222222-2222-4222-8222-222222222222"


def link_to(source: str = SOURCE_A, designation: str = "sober_moth") -> SourceLink:
    return SourceLink(str(uuid.uuid4()), f"1-{designation}-msg.gpg", designation, source, "alert")


def record(**overrides: Any) -> IncidentRecord:
    record_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": record_id,
        "group": record_id,
        "date": IncidentDate.parse("2024-03-05", today=TODAY),
        "place": Place("CD", "CD-SK"),
        "acts": (Act("rape", (VictimGroup("female", "18-29", 2),), ("armed_group",)),),
        "source_type": "witness",
        "sources": (link_to(),),
    }
    values.update(overrides)
    return IncidentRecord.build(**values)


class TestIncidentDate:
    """Each precision covers the days it may have been; ranges join two of them."""

    @pytest.mark.parametrize(
        ("text", "precision", "start", "end"),
        [
            ("2024-03-05", DatePrecision.DAY, "2024-03-05", "2024-03-05"),
            ("2024-02", DatePrecision.MONTH, "2024-02-01", "2024-02-29"),
            ("2023", DatePrecision.YEAR, "2023-01-01", "2023-12-31"),
            ("2023-11/2024-01-10", DatePrecision.RANGE, "2023-11-01", "2024-01-10"),
            ("2023..2024-02", DatePrecision.RANGE, "2023-01-01", "2024-02-29"),
        ],
    )
    def test_bounds(self, text: str, precision: DatePrecision, start: str, end: str) -> None:
        date = IncidentDate.parse(text, today=TODAY)
        assert (date.precision, date.start.isoformat(), date.end.isoformat()) == (
            precision,
            start,
            end,
        )
        assert IncidentDate.parse(date.text, today=TODAY) == date

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("5 March 2024", "is not a date"),
            ("2024-13", "is not a date"),
            ("2024-02-30", "is not a date"),
            ("2024-05/2024-01", "ends before it starts"),
            ("1949", "before 1950"),
            ("2027-01", "in the future"),
            ("2024/2025/2026", "is not a date"),
        ],
    )
    def test_refused(self, text: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            IncidentDate.parse(text, today=TODAY)

    def test_a_range_never_runs_into_the_future(self) -> None:
        assert IncidentDate.parse("2026-11/2027", today=TODAY).end == TODAY

    @pytest.mark.parametrize(
        ("a", "b", "days"),
        [
            ("2024-03-05", "2024-03", 1),  # a day inside its month
            ("2024-03", "2024", 31),  # a month inside its year
            ("2024-03-05", "2024-03-06", 0),  # two different days
            ("2024-02", "2024-03", 0),  # consecutive months
            ("2024-02-20/2024-03-10", "2024-03", 10),
            ("2023", "2023-12-31/2024-01-02", 1),
        ],
    )
    def test_overlap(self, a: str, b: str, days: int) -> None:
        first, second = IncidentDate.parse(a, today=TODAY), IncidentDate.parse(b, today=TODAY)
        assert first.overlap_days(second) == second.overlap_days(first) == days
        assert first.overlaps(second) is (days > 0)


class TestValidation:
    """Every problem is named at once, by field; nothing half-valid is kept."""

    def test_a_valid_record_round_trips(self) -> None:
        kept = record(note="seen at the clinic")
        assert IncidentRecord.from_dict(kept.to_dict()) == kept

    def test_every_problem_is_listed(self) -> None:
        with pytest.raises(IncidentInvalidError) as caught:
            record(
                place=Place("CD", "RW-02"),
                acts=(
                    Act("beating", (VictimGroup("female", "18-29", 1),)),
                    Act("rape", (VictimGroup("woman", "adult", 0),), ("soldiers",)),
                    Act("forced_nudity", ()),
                ),
                source_type="journalist",
            )
        problems = caught.value.problems
        assert "place: 'RW-02' is not an ISO 3166-2 region of CD" in problems
        assert any(p.startswith("act: 'beating' is not one of rape, ") for p in problems)
        assert any(p.startswith("act rape: victims' sex: 'woman'") for p in problems)
        assert any(p.startswith("act rape: age band: 'adult'") for p in problems)
        assert "act rape: a count must be 1 to 10000" in problems
        assert any(p.startswith("act rape: perpetrator: 'soldiers'") for p in problems)
        assert any(p.startswith("act forced_nudity: no victims") for p in problems)
        assert any(p.startswith("source type: 'journalist'") for p in problems)
        assert str(caught.value).startswith("incident record refused:\n  - ")

    @pytest.mark.parametrize(
        ("place", "message"),
        [
            (Place("XX"), "'XX' is not an ISO 3166-1 alpha-2 country code"),
            (Place("BI", "CD-SK"), "'CD-SK' is not an ISO 3166-2 region of BI"),
            # A second-level subdivision (a district of Uganda's Central region): too fine.
            (Place("UG", "UG-102"), "UG-102 is not a first-level region of UG (too fine"),
            (Place("SI", "SI-001"), "SI is coded without a region"),
        ],
    )
    def test_places(self, place: Place, message: str) -> None:
        with pytest.raises(IncidentInvalidError, match=message.replace("(", r"\(")):
            record(place=place)

    def test_a_country_outside_the_source_list_is_fine(self) -> None:
        # The analyst codes what happened where it happened: any ISO 3166 country.
        assert record(place=Place("FR", "FR-IDF")).place.region == "FR-IDF"
        assert record(place=Place("CD")).place.region is None

    def test_duplicate_categories_and_victim_groups(self) -> None:
        victims = (VictimGroup("female", "18-29", 1), VictimGroup("female", "18-29", 2))
        with pytest.raises(IncidentInvalidError) as caught:
            record(acts=(Act("rape", victims), Act("rape", victims[:1])))
        assert "act: rape twice (one act per category)" in caught.value.problems
        assert "act rape: a sex and age band given twice (add them up)" in caught.value.problems

    def test_a_record_rests_on_a_report(self) -> None:
        with pytest.raises(IncidentInvalidError, match="at least one imported report"):
            record(sources=())

    def test_victims_syntax(self) -> None:
        assert VictimGroup.parse(" male:12-17:3 ") == VictimGroup("male", "12-17", 3)
        with pytest.raises(ValueError, match="SEX:AGE_BAND:COUNT"):
            VictimGroup.parse("male:3")

    def test_changed_fields_name_fields_only(self) -> None:
        kept = record()
        moved = IncidentRecord.build(**{**kept.values(), "place": Place("CD")})
        assert kept.changed_fields(moved) == ["place"]


def _alert(**answers: list[str]) -> dict[str, Any]:
    return reports.alert_from_form(answers, today=TODAY)


class TestPrefill:
    """An ALERT report's answers become the record's fields; doubts are said."""

    def test_a_full_report(self) -> None:
        document = _alert(
            reporter=["witness"],
            violence=["rape", "forced_nudity"],
            when_year=["2024"],
            when_month=["3"],
            country=["CD"],
            region=["CD-SK"],
            victims_count=["2"],
            victims_sex=["female"],
            victims_age=["12-17"],
            perpetrators=["armed_group"],
        )
        prefill = prefill_from_report(document)
        assert prefill.date == IncidentDate.parse("2024-03")
        assert prefill.place == Place("CD", "CD-SK")
        assert prefill.source_type == "witness"
        group = (VictimGroup("female", "12-17", 2),)
        assert prefill.acts == (
            Act("rape", group, ("armed_group",)),
            Act("forced_nudity", group, ("armed_group",)),
        )
        assert prefill.review == [
            "acts: the same victims are coded under each act the report names; "
            "adjust per act if the account says otherwise"
        ]

    def test_uncertain_victims_and_an_ongoing_situation(self) -> None:
        document = _alert(
            violence=["sexual_slavery"],
            when_date=["2024-06-01"],
            ongoing=["yes"],
            victims_sex=["female", "male"],
            victims_age=["12-17", "18-29"],
        )
        prefill = prefill_from_report(document, received_on=dt.date(2024, 7, 15))
        assert prefill.date == IncidentDate.parse("2024-06-01/2024-07-15")
        assert prefill.acts[0].victims == (VictimGroup("unknown", "unknown", 2),)
        assert prefill.acts[0].perpetrators == ("unknown",)
        assert prefill.place is None and prefill.source_type is None
        assert any(r.startswith("victims: the report gives no number; 2") for r in prefill.review)
        assert any("split them by sex and age band" in r for r in prefill.review)
        assert any(r.startswith("date: ongoing") for r in prefill.review)

    def test_one_victim_of_each_sex(self) -> None:
        document = _alert(violence=["rape"], victims_count=["2"], victims_sex=["female", "male"])
        assert prefill_from_report(document).acts[0].victims == (
            VictimGroup("female", "unknown", 1),
            VictimGroup("male", "unknown", 1),
        )

    def test_an_assist_request_gives_its_place_only(self) -> None:
        document = reports.assist_from_form({"needs": ["medical"], "region": ["BI-BM"]})
        prefill = prefill_from_report(document)
        assert prefill.place == Place("BI", "BI-BM") and prefill.acts == ()


def _reading(source: str, statistics: bool | None) -> ConsentReading:
    stated = {"statistics": statistics}
    return ConsentReading("4-sober_moth-msg.gpg", 4, "sober_moth", stated, fold([stated]), source)


class TestConsentAndGroups:
    """Only consenting sources count; a linked group counts once, from a usable record."""

    def test_consent_of_every_source_is_needed(self) -> None:
        latest = {SOURCE_A: _reading(SOURCE_A, True), SOURCE_B: _reading(SOURCE_B, None)}
        assert consent_of(record(), latest).usable
        both = record(sources=(link_to(), link_to(SOURCE_B, "quiet_fox")))
        status = consent_of(both, latest)
        assert not status.usable
        assert status.problems == (
            "source quiet_fox (1-quiet_fox-msg.gpg): their latest consent "
            "(4-sober_moth-msg.gpg) says statistics: unknown",
        )
        unread = consent_of(record(sources=(link_to(SOURCE_B, "quiet_fox"),)), {})
        assert "no consent document of this source is decrypted here" in unread.problems[0]
        assert Answer.UNKNOWN is latest[SOURCE_B].answers["statistics"]

    def test_a_group_counts_once_from_a_consenting_record(self) -> None:
        refused = record(sources=(link_to(SOURCE_B, "quiet_fox"),), coded_at="2026-01-01")
        consented = record(group=refused.id, coded_at="2026-01-02")
        again = record(group=refused.id, coded_at="2026-01-03", sources=consented.sources)
        alone = record(coded_at="2026-01-04")
        latest = {SOURCE_A: _reading(SOURCE_A, True), SOURCE_B: _reading(SOURCE_B, False)}
        consent = {r.id: consent_of(r, latest) for r in (refused, consented, again, alone)}
        incidents = group_incidents([alone, again, consented, refused], consent)
        assert [len(i.records) for i in incidents] == [3, 1]
        linked = incidents[0]
        assert linked.counted is consented  # never the record whose source said no
        assert (linked.reports, linked.corroboration) == (2, 2)
        only_refused = group_incidents([refused], consent)
        assert only_refused[0].counted is None and not only_refused[0].usable
