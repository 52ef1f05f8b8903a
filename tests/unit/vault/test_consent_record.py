"""The consent a document states, the consent in force after several, and the check
code that carries it to the server."""

from __future__ import annotations

import datetime as dt
import json

from vault import reports
from vault.consent_record import Answer, check_code, fold, normalise_code, purposes, stated_answers

ALL_YES = dict.fromkeys(purposes(), Answer.YES)


def _change(**answers: bool | None) -> dict[str, object]:
    """A change of consent in the flat shape, naming only what changed (schema 2)."""
    return {"schema": reports.SCHEMA, "version": 2, "kind": "consent", "consent": answers}


class TestStatedAnswers:
    def test_assist_states_every_purpose_of_its_form(self) -> None:
        document = reports.assist_from_form(
            {"consent_court": ["yes"], "consent_statistics": ["no"]}
        )
        stated = stated_answers(document)
        assert stated is not None
        assert stated["court"] is True and stated["statistics"] is False

    def test_change_of_consent_in_both_versions(self) -> None:
        """Version 1 nested the answers twice; `reports.loads` reads it as version 2."""
        version_1 = {"schema": reports.SCHEMA, "version": 1, "kind": "consent"}
        version_1["consent"] = {"consent": dict.fromkeys(["handle_case", "court"], False)}
        for document in (reports.loads(json.dumps(version_1)), _change(court=False)):
            assert document is not None
            stated = stated_answers(document)
            assert stated is not None and stated["court"] is False

    def test_alert_states_no_consent_and_strange_keys_are_dropped(self) -> None:
        document = reports.alert_from_form({"reporter": ["witness"]}, today=dt.date.today())
        assert stated_answers(document) is None
        assert stated_answers(_change(court=True, invented=True)) == {"court": True}
        assert stated_answers(_change()) == {}


class TestFold:
    def test_the_latest_stated_answer_counts(self) -> None:
        folded = fold([_stated(court=True, statistics=True), _stated(statistics=False)])
        assert folded["court"] is Answer.YES  # left "as before"
        assert folded["statistics"] is Answer.NO
        assert folded["refer_partner"] is Answer.UNKNOWN  # never stated

    def test_not_now_withdraws(self) -> None:
        assert fold([_stated(court=True), _stated(court=None)])["court"] is Answer.UNKNOWN


def _stated(**answers: bool | None) -> dict[str, bool | None]:
    stated = stated_answers(_change(**answers))
    assert stated is not None
    return stated


class TestCheckCode:
    def test_binds_document_and_every_answer(self) -> None:
        code = check_code("3-sober_moth-msg.gpg", ALL_YES)
        assert len(code) == 9 and code[4] == "-"
        assert code != check_code("4-sober_moth-msg.gpg", ALL_YES)
        for purpose in purposes():
            changed = {**ALL_YES, purpose: Answer.UNKNOWN}
            assert code != check_code("3-sober_moth-msg.gpg", changed)

    def test_typing_is_forgiven(self) -> None:
        code = check_code("3-sober_moth-msg.gpg", ALL_YES)
        typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
        assert normalise_code(typed) == code
        assert normalise_code("ABC") != code
