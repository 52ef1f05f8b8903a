"""Consent over time: what each document states, what is in force after a series, and
the small state a source's own page shows."""

from __future__ import annotations

import datetime as dt

import pytest

from vault import consent, reports


def _assist(answers: dict[str, list[str]]) -> dict[str, object]:
    return reports.assist_from_form(answers)


class TestCurrentConsent:
    """The latest answer stated for each use counts; never stated means no (null)."""

    def test_a_change_keeps_what_it_does_not_state(self) -> None:
        first = _assist({"consent_handle_case": ["yes"], "consent_statistics": ["yes"]})
        change = reports.consent_from_form({"consent_statistics": ["no"]})
        assert consent.current_consent([first, change]) == {
            "handle_case": True,
            "refer_partner": None,
            "contact_partner": None,
            "statistics": False,
            "court": None,
        }

    def test_not_now_replaces_an_earlier_yes(self) -> None:
        first = _assist({"consent_court": ["yes"]})
        change = reports.consent_from_form({"consent_court": ["not_now"]})
        assert consent.current_consent([first, change])["court"] is None

    def test_version_1_change_read_through_loads(self) -> None:
        old = (
            '{"schema": "backup.source-report", "version": 1, "kind": "consent", '
            '"consent": {"consent": {"handle_case": true, "refer_partner": null, '
            '"statistics": null, "court": null}}}'
        )
        document = reports.loads(old)
        assert document is not None
        assert consent.current_consent([document])["handle_case"] is True

    def test_an_alert_states_no_consent(self) -> None:
        alert = reports.alert_from_form({"ongoing": ["yes"]}, today=dt.date(2026, 1, 1))
        assert consent.stated_consent(alert) == {}


class TestState:
    """The source's own copy: known answers only, and nothing else."""

    def test_round_trip_keeps_unknown_uses_unknown(self) -> None:
        state = {"court": True, "statistics": None}
        assert consent.consent_state_loads(consent.consent_state_dumps(state)) == state

    def test_holds_only_the_answers(self) -> None:
        text = consent.consent_state_dumps({"court": False}).decode()
        assert (
            text == '{"schema": "backup.consent-state", "version": 1, "consent": {"court": false}}'
        )

    @pytest.mark.parametrize(
        "data",
        [
            b"not json",
            b"{}",
            b'{"schema": "backup.consent-state", "version": 2, "consent": {}}',
            b'{"schema": "backup.consent-state", "version": 1, "consent": {"x": true}}',
        ],
    )
    def test_anything_else_is_refused(self, data: bytes) -> None:
        with pytest.raises(reports.ReportError):
            consent.consent_state_loads(data)
