"""The workstation's reading of consent: each source's documents folded in order, the
latest in force, and the consent record an analyst carries to the case page."""

from __future__ import annotations

import datetime as dt

from vault import reports
from vault.consent_record import Answer, check_code
from workstation.consent import (
    ConsentReading,
    consenting_sources,
    fold_readings,
    latest_by_source,
    reading_of,
    record_text,
    stated_in,
)


def _reading(
    number: int, designation: str = "sober_moth", **answers: bool | None
) -> ConsentReading:
    document = {"schema": reports.SCHEMA, "version": 2, "kind": "consent", "consent": answers}
    reading = reading_of(document, f"{number}-{designation}-msg.gpg")
    assert reading is not None
    return reading


class TestLatest:
    def test_documents_fold_in_order_and_the_highest_number_is_in_force(self) -> None:
        first = _reading(2, court=True, statistics=True)
        later = _reading(5, statistics=False)  # court left as before
        withdrawn = _reading(3, designation="quiet_owl", court=True)
        owl_later = _reading(7, designation="quiet_owl", court=None)  # "not now"
        readings = fold_readings([later, owl_later, first, withdrawn])
        latest = latest_by_source(readings)
        assert latest["sober_moth"].document_name == "5-sober_moth-msg.gpg"
        assert latest["sober_moth"].answers["court"] is Answer.YES
        assert latest["sober_moth"].earlier == ("2-sober_moth-msg.gpg",)
        assert latest["quiet_owl"].answers["court"] is Answer.UNKNOWN
        assert consenting_sources(readings, "court") == {"sober_moth"}
        assert consenting_sources(readings, "statistics") == set()

    def test_the_document_whose_answer_stands(self) -> None:
        """A judicial file names the document that stated court, not only the latest."""
        readings = fold_readings(
            [
                _reading(2, court=False),
                _reading(4, court=True),
                _reading(6, statistics=True),  # court left as before
                _reading(8, court=None),  # "not now", later than the one asked about
                _reading(5, designation="quiet_owl", court=True),  # another source
            ]
        )
        by_name = {r.document_name: r for r in readings}
        stating = stated_in(readings, by_name["6-sober_moth-msg.gpg"], "court")
        assert stating is not None and stating.document_name == "4-sober_moth-msg.gpg"
        itself = stated_in(readings, by_name["4-sober_moth-msg.gpg"], "court")
        assert itself is not None and itself.document_name == "4-sober_moth-msg.gpg"
        assert stated_in(readings, by_name["6-sober_moth-msg.gpg"], "refer_partner") is None

    def test_an_alert_or_a_strange_name_is_no_consent(self) -> None:
        alert = reports.alert_from_form({"reporter": ["witness"]}, today=dt.date.today())
        assert reading_of(alert, "2-sober_moth-msg.gpg") is None
        consent = reports.consent_from_form({"consent_court": ["yes"]})
        assert reading_of(consent, "../2-sober_moth-msg.gpg") is None


class TestRecord:
    def test_record_text_carries_the_answers_in_force_and_the_check_code(self) -> None:
        [first, later] = fold_readings([_reading(2, court=False), _reading(4, refer_partner=True)])
        code = check_code("4-sober_moth-msg.gpg", later.answers)
        text = record_text(later)
        assert "Consent record: 4-sober_moth-msg.gpg" in text
        assert "court: no  (as before)" in text and "refer_partner: yes" in text
        assert "with earlier documents: 2-sober_moth-msg.gpg" in text
        assert f"check code: {code}" in text
        assert "not stated: decrypt earlier documents" in record_text(first)
