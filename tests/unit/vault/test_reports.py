"""The report schema: strict validation of a form, canonical versioned JSON."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import reports
from vault.regions import REGIONS

TODAY = dt.date(2026, 11, 26)


def _codes(form: dict[str, list[str]]) -> tuple[str, ...]:
    with pytest.raises(reports.ReportError) as info:
        reports.alert_from_form(form, today=TODAY)
    return info.value.codes


class TestAlert:
    """ALERT answers become one canonical document."""

    def test_every_question_may_be_skipped(self) -> None:
        document = reports.alert_from_form({"ongoing": ["yes"]}, today=TODAY)
        assert document["schema"] == reports.SCHEMA and document["version"] == 2
        alert = document["alert"]
        assert alert["reporter"] is None and alert["violence"] == []
        assert alert["where"] is None and alert["account"] is None

    @pytest.mark.parametrize(
        "form",
        [
            {"csrf_token": ["t"]},
            {"reporter": [""], "country": [""], "region": [""], "when_month": [""]},
            {"account": ["  \r\n "], "place": [" "], "victims_count": [""]},
        ],
    )
    def test_an_empty_report_is_refused(self, form: dict[str, list[str]]) -> None:
        """Nothing answered, nothing written and no file: nothing to keep."""
        assert _codes(form) == ("alert:empty",)

    def test_files_alone_make_a_report(self) -> None:
        document = reports.alert_from_form({}, today=TODAY, with_files=True)
        assert document["alert"]["account"] is None

    def test_choices_are_canonical(self) -> None:
        a = reports.alert_from_form({"violence": ["forced_nudity", "rape"]}, today=TODAY)
        b = reports.alert_from_form({"violence": ["rape", "forced_nudity", ""]}, today=TODAY)
        assert a == b and a["alert"]["violence"] == ["rape", "forced_nudity"]
        assert reports.dumps(a) == reports.dumps(b)

    @pytest.mark.parametrize(
        ("form", "when"),
        [
            ({"when_date": ["2024-02-29"]}, {"precision": "day", "date": "2024-02-29"}),
            (
                {"when_month": ["7"], "when_year": ["2023"]},
                {"precision": "month", "date": "2023-07"},
            ),
            ({"when_year": ["2019"]}, {"precision": "year", "date": "2019"}),
            ({"ongoing": ["yes"]}, {"ongoing": True}),
            ({"when_date": [TODAY.isoformat()]}, {"precision": "day", "date": "2026-11-26"}),
        ],
    )
    def test_when_is_coarse_as_the_source_wants(
        self, form: dict[str, list[str]], when: dict[str, object]
    ) -> None:
        assert reports.alert_from_form(form, today=TODAY)["alert"]["when"] == when

    def test_digits_of_any_script(self) -> None:
        """An Arabic or Devanagari keyboard types its own digits: they count."""
        form = {"victims_count": ["١٢"], "perpetrators_count": ["३"], "when_year": ["٢٠٢٤"]}
        alert = reports.alert_from_form(form, today=TODAY)["alert"]
        assert alert["victims"]["count"] == 12 and alert["perpetrators"]["count"] == 3
        assert alert["when"] == {"precision": "year", "date": "2024"}

    def test_region_names_its_country(self) -> None:
        where = reports.alert_from_form({"region": ["RW-05"]}, today=TODAY)["alert"]["where"]
        assert where == {"country": "RW", "region": "RW-05", "place": None}

    @pytest.mark.parametrize(
        ("form", "code"),
        [
            ({"violence": ["genocide"]}, "violence:choice"),
            ({"reporter": ["survivor", "family"]}, "reporter:choice"),
            ({"victims_count": ["0"]}, "victims_count:range"),
            ({"victims_count": [str(reports.MAX_COUNT + 1)]}, "victims_count:range"),
            ({"victims_count": ["1e3"]}, "victims_count:number"),
            ({"victims_count": ["²"]}, "victims_count:number"),
            ({"when_date": ["2026-11-27"]}, "when_date:range"),
            ({"when_date": ["1949-12-31"]}, "when_date:range"),
            ({"when_date": ["yesterday"]}, "when_date:format"),
            ({"when_year": ["2027"]}, "when_year:range"),
            ({"when_month": ["12"], "when_year": ["2026"]}, "when_year:range"),
            ({"when_month": ["0"], "when_year": ["2020"]}, "when_month:choice"),
            ({"when_month": ["3"]}, "when_year:missing"),
            ({"country": ["FR"]}, "country:choice"),
            ({"country": ["GN"], "region": ["CD-NK"]}, "region:country"),
            ({"region": ["CD-XX"]}, "region:choice"),
            ({"account": ["a" * (reports.MAX_LONG_TEXT + 1)]}, "account:length"),
            ({"place": ["bad\x07bell"]}, "place:characters"),
            ({"account": ["\ufffd"]}, "account:characters"),
            ({"account": ["one", "two"]}, "account:choice"),
            ({"role": ["admin"]}, "form:unexpected"),
            ({"consent_court": ["yes"]}, "form:unexpected"),
        ],
    )
    def test_bad_input_is_refused_with_a_code(self, form: dict[str, list[str]], code: str) -> None:
        assert code in _codes(form)

    def test_every_problem_is_reported_at_once(self) -> None:
        codes = _codes({"violence": ["x"], "victims_count": ["-1"], "evil": ["1"]})
        assert set(codes) == {"form:unexpected", "violence:choice", "victims_count:number"}

    def test_an_error_never_holds_the_input(self) -> None:
        with pytest.raises(reports.ReportError) as info:
            reports.alert_from_form({"place": ["SECRET\x00"]}, today=TODAY)
        assert "SECRET" not in str(info.value)

    def test_text_is_normalised(self) -> None:
        alert = reports.alert_from_form(
            {"account": ["  line one\r\nline two  "], "place": ["Cafe\u0301"]}, today=TODAY
        )["alert"]
        assert alert["account"] == "line one\nline two"
        assert alert["where"]["place"] == "Café"

    def test_regions_are_well_formed(self) -> None:
        for country, regions in REGIONS.items():
            assert len(country) == 2
            assert all(code.split("-", 1)[0] == country for code in regions)


class TestAssist:
    """ASSIST: needs, urgency, place, consent and contact."""

    def test_consent_states_only_what_was_answered(self) -> None:
        """ "Not now" is written (null: no); "as before" ("" or no value) is not."""
        form = {
            "consent_court": ["no"],
            "consent_statistics": ["not_now"],
            "consent_refer_partner": [""],
        }
        assist = reports.assist_from_form(form)["assist"]
        assert assist["consent"] == {"statistics": None, "court": False}
        assert assist["contact"] == {"method": "backup", "details": None}

    def test_contact_by_a_partner_is_a_consent_of_its_own(self) -> None:
        assist = reports.assist_from_form({"consent_contact_partner": ["yes"]})["assist"]
        assert assist["consent"] == {"contact_partner": True}
        assert (
            reports.CONSENTS.index("contact_partner") == reports.CONSENTS.index("refer_partner") + 1
        )

    def test_the_place_is_coarse(self) -> None:
        """Country and region only: no free place on a help request."""
        assist = reports.assist_from_form({"region": ["BI-GI"]})["assist"]
        assert assist["where"] == {"country": "BI", "region": "BI-GI"}
        assert reports.assist_from_form({})["assist"]["where"] is None
        with pytest.raises(reports.ReportError) as info:
            reports.assist_from_form({"place": ["the house by the church"]})
        assert info.value.codes == ("form:unexpected",)

    def test_a_contact_not_chosen_is_dropped(self) -> None:
        form = {"contact": ["backup"], "contact_details": ["+250 700 000 000"]}
        assert reports.assist_from_form(form)["assist"]["contact"]["details"] is None

    @pytest.mark.parametrize(
        ("form", "code"),
        [
            ({"contact": ["other"]}, "contact_details:missing"),
            ({"contact": ["pigeon"]}, "contact:choice"),
            ({"needs": ["money"]}, "needs:choice"),
            ({"urgency": ["yesterday"]}, "urgency:choice"),
            ({"consent_court": ["maybe"]}, "consent_court:choice"),
            ({"recent": ["soon"]}, "recent:choice"),
            ({"violence": ["rape"]}, "form:unexpected"),
            ({"country": ["RW"], "region": ["BI-GI"]}, "region:country"),
        ],
    )
    def test_bad_input(self, form: dict[str, list[str]], code: str) -> None:
        with pytest.raises(reports.ReportError) as info:
            reports.assist_from_form(form)
        assert code in info.value.codes

    def test_consent_change_needs_one_answer(self) -> None:
        with pytest.raises(reports.ReportError) as info:
            reports.consent_from_form({"consent_court": [""]})
        assert info.value.codes == ("consent:empty",)

    def test_a_change_of_consent_is_flat(self) -> None:
        """Version 2: the envelope puts kind -> body; the body is the answers."""
        document = reports.consent_from_form(
            {"consent_statistics": ["yes"], "consent_court": ["not_now"]}
        )
        assert document == {
            "schema": reports.SCHEMA,
            "version": 2,
            "kind": "consent",
            "consent": {"statistics": True, "court": None},
        }
        assert reports.loads(reports.dumps(document)) == document


class TestSerialisation:
    """The JSON round-trips and announces its schema and version."""

    def test_round_trip(self) -> None:
        document = reports.alert_from_form(
            {"account": ['ابنتي "quoted" \\ <b>'], "violence": ["rape"]}, today=TODAY
        )
        text = reports.dumps(document)
        assert "ابنتي" in text  # readable, not \\u-escaped
        assert reports.loads(text) == document

    @pytest.mark.parametrize("text", ["hello", "[]", '{"a": 1}', '{"schema": "other"}'])
    def test_plain_messages_are_not_reports(self, text: str) -> None:
        assert reports.loads(text) is None

    @pytest.mark.parametrize(
        "document",
        [
            {"schema": reports.SCHEMA, "version": 3, "kind": "alert", "alert": {}},
            {"schema": reports.SCHEMA, "version": 2, "kind": "consent", "consent": {"x": True}},
            {"schema": reports.SCHEMA, "version": 2, "kind": "consent", "consent": {"court": 1}},
            {"schema": reports.SCHEMA, "version": 1, "kind": "poem", "poem": {}},
            {"schema": reports.SCHEMA, "version": 1, "kind": "alert", "alert": []},
        ],
    )
    def test_unknown_versions_are_errors(self, document: dict[str, object]) -> None:
        with pytest.raises(reports.ReportError):
            reports.loads(json.dumps(document))

    def test_version_1_documents_stay_readable(self) -> None:
        """A version 1 change of consent nested its answers: readers get them flat."""
        old = {
            "schema": reports.SCHEMA,
            "version": 1,
            "kind": "consent",
            "consent": {
                "consent": {
                    "handle_case": None,
                    "refer_partner": None,
                    "statistics": None,
                    "court": True,
                }
            },
        }
        document = reports.loads(json.dumps(old))
        assert document is not None and document["version"] == 1
        assert document["consent"] == {
            "handle_case": None,
            "refer_partner": None,
            "statistics": None,
            "court": True,
        }
        old_assist = {
            "schema": reports.SCHEMA,
            "version": 1,
            "kind": "assist",
            "assist": {"needs": ["legal"], "consent": {"court": False, "handle_case": True}},
        }
        assert reports.loads(json.dumps(old_assist)) == old_assist

    @settings(max_examples=200, deadline=None)
    @given(
        st.dictionaries(
            st.sampled_from([*sorted(reports.ALERT_FIELDS), "csrf_token", "x"]),
            st.lists(st.text(max_size=30), max_size=4),
            max_size=10,
        )
    )
    def test_any_form_is_a_document_or_a_coded_refusal(self, form: dict[str, list[str]]) -> None:
        try:
            document = reports.alert_from_form(form, today=TODAY)
        except reports.ReportError as exc:
            assert exc.codes and all(":" in code for code in exc.codes)
            return
        assert reports.loads(reports.dumps(document)) == document
        assert len(reports.dumps(document)) < 100_000
