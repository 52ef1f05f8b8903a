"""ALERT and ASSIST through the source app: answers become a sealed, versioned JSON
document that opens to exactly those answers; bad input is refused, in the page's
language, and nothing is stored."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import (
    SourceBrowser,
    csrf_token,
    gunzip,
    gzip_name,
    stored_files,
    submission_count,
)
from tests.support.leaks import assert_no_leak
from vault import reports
from vault.models import Source, Submission, SubmissionKind

ALERT_ANSWERS: dict[str, Any] = {
    "reporter": "witness",
    "violence": ["rape", "forced_nudity"],
    "when_month": "3",
    "when_year": "2024",
    "ongoing": "yes",
    "region": "BI-GI",
    "place": "near the market",
    "victims_count": "4",
    "victims_sex": ["male", "female"],
    "victims_age": ["12-17", "18-29"],
    "perpetrators": ["armed_group"],
    "perpetrators_count": "12",
    "evidence": ["photos", "witnesses"],
    "account": "Ils sont venus la nuit.\nابنتي كانت هناك",
}
ALERT_DOCUMENT = {
    "schema": "backup.source-report",
    "version": 2,
    "kind": "alert",
    "alert": {
        "reporter": "witness",
        "violence": ["rape", "forced_nudity"],
        "when": {"precision": "month", "date": "2024-03", "ongoing": True},
        "where": {"country": "BI", "region": "BI-GI", "place": "near the market"},
        "victims": {"count": 4, "sex": ["female", "male"], "age_bands": ["12-17", "18-29"]},
        "perpetrators": {"categories": ["armed_group"], "count": 12},
        "evidence": ["photos", "witnesses"],
        "account": "Ils sont venus la nuit.\nابنتي كانت هناك",
    },
}
ASSIST_ANSWERS = {
    "needs": ["medical", "psychosocial"],
    "urgency": "today",
    "recent": "yes",
    "consent_handle_case": "yes",
    "consent_refer_partner": "yes",
    "consent_contact_partner": "no",
    "consent_statistics": "no",
    "consent_court": "not_now",
    "region": "RW-02",
    "contact": "other",
    "contact_details": "Ask for Aline at the health centre",
}
ASSIST_DOCUMENT = {
    "schema": "backup.source-report",
    "version": 2,
    "kind": "assist",
    "assist": {
        "needs": ["medical", "psychosocial"],
        "urgency": "today",
        "within_72_hours": "yes",
        "where": {"country": "RW", "region": "RW-02"},
        "consent": {
            "handle_case": True,
            "refer_partner": True,
            "contact_partner": False,
            "statistics": False,
            "court": None,
        },
        "contact": {"method": "other", "details": "Ask for Aline at the health centre"},
    },
}


def _post(browser: SourceBrowser, path: str, data: dict[str, Any], **kw: Any) -> Any:
    form = {"csrf_token": browser.token(path), **data}
    return browser.client.post(path, data=form, **kw)


def _opened(runtime: Runtime, keyring: GpgKeyring) -> list[tuple[SubmissionKind, bytes]]:
    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        rows = db.scalars(select(Submission).order_by(Submission.id)).all()
        return [
            (
                row.kind,
                keyring.open_bytes(
                    runtime.store.path_of(source.uuid, row.filename).read_bytes(),
                    SUBMISSION_PASSPHRASE,
                ),
            )
            for row in rows
        ]


class TestAlert:
    def test_answers_and_files_are_sealed_exactly(
        self, logged_in: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        """Every answer comes back from the sealed JSON, and files go with the report."""
        data = {**ALERT_ANSWERS, "fh": [(io.BytesIO(b"voice note bytes"), "note.ogg")]}
        response = _post(logged_in, "/report", data, content_type="multipart/form-data")
        assert response.status_code == 302
        assert response.headers["Location"] == "/help/"
        page = logged_in.client.get("/help/").text
        assert "Your report is encrypted" in page
        # A receipt code for the report and one for the file, as for any submission.
        codes = re.search(r"Your receipt codes: ([^<]+)<", page)
        assert codes and len(codes.group(1).split(", ")) == 2
        opened = _opened(runtime, workstation_keyring)
        assert [kind for kind, _ in opened] == [SubmissionKind.MESSAGE, SubmissionKind.FILE]
        assert json.loads(opened[0][1]) == ALERT_DOCUMENT
        assert reports.loads(opened[0][1].decode()) == ALERT_DOCUMENT
        assert gzip_name(opened[1][1]) == "note.ogg"
        assert gunzip(opened[1][1]) == b"voice note bytes"
        assert stored_files(runtime)
        assert_no_leak(
            "near the market",
            files=[runtime.config.instance_dir],
            engine=runtime.engine,
            redis=runtime.redis,
        )

    def test_an_empty_report_is_refused_kindly(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        """Every question may be skipped, but not all of them with no file: nothing to keep.
        Radios left at "I prefer not to answer" and empty selects count as no answer."""
        blank = {"reporter": "", "country": "", "region": "", "when_month": "", "account": " "}
        response = _post(logged_in, "/report", blank)
        assert response.status_code == 400
        assert "The form is empty" in response.text and "Nothing was sent" in response.text
        assert submission_count(runtime) == 0 and stored_files(runtime) == []
        logged_in.client.get("/language/fr")
        response = _post(logged_in, "/report", {})
        assert response.status_code == 400 and "Le formulaire est vide" in response.text
        assert submission_count(runtime) == 0

    def test_one_answer_or_one_file_is_enough(
        self, logged_in: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        assert _post(logged_in, "/report", {"ongoing": "yes"}).status_code == 302
        data = {"fh": [(io.BytesIO(b"a photo"), "p.jpg")]}
        response = _post(logged_in, "/report", data, content_type="multipart/form-data")
        assert response.status_code == 302
        opened = _opened(runtime, workstation_keyring)
        assert [kind for kind, _ in opened] == [
            SubmissionKind.MESSAGE,
            SubmissionKind.MESSAGE,
            SubmissionKind.FILE,
        ]
        assert json.loads(opened[1][1])["alert"]["violence"] == []

    def test_form_is_offered_from_the_source_page(self, logged_in: SourceBrowser) -> None:
        page = logged_in.client.get("/lookup").text
        assert 'href="/report"' in page and 'href="/help/"' in page
        form = logged_in.client.get("/report").text
        assert "You can stop at any time" in form
        assert "Men and boys are victims too." in form
        assert 'name="fh"' in form

    def test_anonymous_visitors_are_sent_to_log_in(self, client: FlaskClient) -> None:
        for path in ("/report", "/help/", "/help/form", "/help/consent"):
            assert client.get(path).headers["Location"] == "/login"

    def test_emergency_care_comes_before_a_codename(self, client: FlaskClient) -> None:
        """Someone hurt in the last days reads this first, from the landing page."""
        assert 'href="/help/now"' in client.get("/").text
        page = client.get("/help/now")
        assert page.status_code == 200 and "PEP" in page.text
        assert 'href="/generate"' in page.text and 'href="/login"' in page.text
        assert "/help/form" not in page.text


BAD_ALERTS = [
    pytest.param({"violence": ["rape", "witchcraft"]}, "choose from the list", id="invented"),
    pytest.param({"victims_count": "0"}, "not possible", id="zero"),
    pytest.param({"victims_count": "100000"}, "not possible", id="too-many"),
    pytest.param({"perpetrators_count": "-3"}, "write a number", id="negative"),
    pytest.param({"victims_count": "²"}, "write a number", id="superscript-digit"),
    pytest.param({"victims_count": "3.5"}, "write a number", id="fraction"),
    pytest.param({"when_date": "2999-01-01"}, "not possible", id="future"),
    pytest.param({"when_date": "31/02/2024"}, "could not be read", id="bad-date"),
    pytest.param({"when_month": "13", "when_year": "2020"}, "choose from the list", id="month"),
    pytest.param({"when_month": "5", "when_year": ""}, "Give the year", id="month-no-year"),
    pytest.param({"country": "RW", "region": "BI-GI"}, "not in the country", id="mismatch"),
    pytest.param({"reporter": ["survivor", "witness"]}, "choose from the list", id="two-radios"),
    pytest.param({"is_admin": "1"}, "did not expect", id="forged-field"),
    pytest.param({"account": "x" * (reports.MAX_LONG_TEXT + 1)}, "too long", id="long-text"),
    pytest.param({"place": "a\x07b"}, "could not be read", id="control-char"),
]


class TestBadInput:
    @pytest.mark.parametrize(("answers", "expected"), BAD_ALERTS)
    def test_refused_with_a_clear_message_and_nothing_stored(
        self, logged_in: SourceBrowser, runtime: Runtime, answers: dict[str, Any], expected: str
    ) -> None:
        response = _post(logged_in, "/report", {**ALERT_ANSWERS, **answers})
        assert response.status_code == 400
        assert expected in response.text
        assert "Nothing was sent" in response.text
        assert submission_count(runtime) == 0
        assert stored_files(runtime) == []
        # What was typed is still there: the source does not retype anything.
        assert "near the market" in response.text or "place" in answers

    def test_ten_megabytes_in_a_field(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        """Multipart (what the ALERT page sends): the per-field limit trips while parsing.
        URL-encoded (what ASSIST sends): refused before it is read, by its length."""
        big = "x" * 10_000_000
        response = _post(logged_in, "/report", {"account": big}, content_type="multipart/form-data")
        assert response.status_code == 413
        assert "Too large" in response.text
        response = _post(logged_in, "/help/form", {"contact": "other", "contact_details": big})
        assert response.status_code == 413
        assert "Too large" in response.text
        # Under the body limit but over the answer's: the report refuses it, and the page
        # does not echo it back whole over a slow circuit.
        long = "y" * 150_000
        response = _post(logged_in, "/help/form", {"contact": "other", "contact_details": long})
        assert response.status_code == 400
        assert "the answer is too long" in response.text
        assert long not in response.text
        assert submission_count(runtime) == 0 and stored_files(runtime) == []

    def test_nul_in_an_answer(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        """Refused before the view (PostgreSQL cannot hold it), or by the report."""
        response = _post(logged_in, "/report", {"account": "before\x00after"})
        assert response.status_code == 400
        assert "nothing was saved" in response.text or "Nothing was sent" in response.text
        assert submission_count(runtime) == 0 and stored_files(runtime) == []

    def test_files_with_a_refused_report_are_not_kept(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        data = {"violence": "invented", "fh": [(io.BytesIO(b"photo"), "p.jpg")]}
        response = _post(logged_in, "/report", data, content_type="multipart/form-data")
        assert response.status_code == 400
        assert "choose them again" in response.text
        assert stored_files(runtime) == [] and submission_count(runtime) == 0

    def test_message_in_the_page_language(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        logged_in.client.get("/language/fr")
        response = _post(logged_in, "/report", {"victims_count": "99999999"})
        assert response.status_code == 400
        assert "Rien n’a été envoyé" in response.text
        assert '<html lang="fr" dir="ltr">' in response.text
        logged_in.client.get("/language/ar")
        response = _post(logged_in, "/help/form", {"needs": "money"})
        assert response.status_code == 400
        assert '<html lang="ar" dir="rtl">' in response.text
        assert "لم يُرسَل أي شيء" in response.text
        assert submission_count(runtime) == 0

    def test_without_csrf_token_nothing_is_stored(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        response = logged_in.client.post("/report", data=ALERT_ANSWERS)
        assert response.status_code == 400
        assert submission_count(runtime) == 0


class TestAssist:
    def test_recent_violence_shows_emergency_care_first(self, logged_in: SourceBrowser) -> None:
        start = logged_in.client.get("/help/").text
        # "Yes" and "not sure" lead to emergency care; "no" straight to the form. The
        # answer is never in a URL (access logs): the form asks it again, sealed.
        links = re.findall(r'<a class="button[^"]*" href="([^"]+)"', start)
        assert links == ["/help/now", "/help/now", "/help/form"]
        now = logged_in.client.get("/help/now").text
        assert "PEP" in now and "72 hours" in now and "5 days" in now
        assert 'href="/help/form"' in now
        form = logged_in.client.get("/help/form").text
        assert 'class="urgent"' in form  # a short reminder stays on the form
        assert 'name="recent" value="" checked' in form

    def test_needs_consent_and_contact_are_sealed(
        self, logged_in: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        response = _post(logged_in, "/help/form", ASSIST_ANSWERS)
        assert response.status_code == 302 and response.headers["Location"] == "/lookup"
        [(kind, plain)] = _opened(runtime, workstation_keyring)
        assert kind is SubmissionKind.MESSAGE
        assert json.loads(plain) == ASSIST_DOCUMENT

    def test_contact_given_only_when_chosen(
        self, logged_in: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        answers = {**ASSIST_ANSWERS, "contact": "backup"}
        assert _post(logged_in, "/help/form", answers).status_code == 302
        [(_kind, plain)] = _opened(runtime, workstation_keyring)
        assert json.loads(plain)["assist"]["contact"] == {"method": "backup", "details": None}

    def test_other_contact_needs_details(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        response = _post(logged_in, "/help/form", {"contact": "other"})
        assert response.status_code == 400
        assert "how we can reach you" in response.text
        assert submission_count(runtime) == 0

    def test_a_change_of_consent_is_flat_and_keeps_what_was_not_changed(
        self, logged_in: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        assert _post(logged_in, "/help/form", ASSIST_ANSWERS).status_code == 302
        page = logged_in.client.get("/help/consent").text
        # The answers given with the request are chosen; nothing offers "As before".
        assert _chosen(page) == {
            "consent_handle_case": "yes",
            "consent_refer_partner": "yes",
            "consent_contact_partner": "no",
            "consent_statistics": "no",
            "consent_court": "not_now",
        }
        assert "As before" not in page
        # The source changes one answer and sends the page as it stands.
        changed = _post(logged_in, "/help/consent", {**_chosen(page), "consent_court": "yes"})
        assert changed.status_code == 302
        document = json.loads(_opened(runtime, workstation_keyring)[1][1])
        assert document == {
            "schema": "backup.source-report",
            "version": 2,
            "kind": "consent",
            "consent": {
                "handle_case": True,
                "refer_partner": True,
                "contact_partner": False,
                "statistics": False,
                "court": True,
            },
        }
        assert _chosen(logged_in.client.get("/help/consent").text)["consent_court"] == "yes"
        # A later ASSIST request starts from the same answers.
        assert _chosen(logged_in.client.get("/help/form").text)["consent_court"] == "yes"

    def test_nothing_changed_sends_nothing(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        assert _post(logged_in, "/help/form", ASSIST_ANSWERS).status_code == 302
        page = logged_in.client.get("/help/consent").text
        response = _post(logged_in, "/help/consent", _chosen(page))
        assert response.status_code == 302
        assert "You changed nothing" in logged_in.client.get("/lookup").text
        assert submission_count(runtime) == 1

    def test_unknown_answers_are_offered_as_before(
        self, recorded: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        """A source whose answers the server cannot show (consent given before the copy
        was kept): every question offers "As before", chosen, and only what the source
        changes is written."""
        _forget_consent_copies(runtime)  # as for a source recorded before version 2
        page = recorded.client.get("/help/consent").text
        assert "We cannot show some of your earlier answers" in page
        assert set(_chosen(page).values()) == {""}
        everything_as_before = _post(recorded, "/help/consent", _chosen(page))
        assert everything_as_before.status_code == 400
        assert "You left every question as before" in everything_as_before.text
        assert submission_count(runtime) == 1
        response = _post(recorded, "/help/consent", {**_chosen(page), "consent_statistics": "no"})
        assert response.status_code == 302
        document = json.loads(_opened(runtime, workstation_keyring)[1][1])
        assert document["consent"] == {"statistics": False}
        # What is known now is shown; the rest stays "As before".
        again = _chosen(recorded.client.get("/help/consent").text)
        assert again["consent_statistics"] == "no" and again["consent_court"] == ""

    def test_a_page_from_before_version_2_withdraws_nothing(
        self, recorded: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        """The old form sent "" for "Not now" on every untouched question: read now as
        "as before", so a tab left open across an upgrade cannot withdraw consent."""
        old_form = {f"consent_{name}": "" for name in reports.CONSENTS}
        response = _post(recorded, "/help/consent", {**old_form, "consent_court": "yes"})
        assert response.status_code == 302
        document = json.loads(_opened(runtime, workstation_keyring)[1][1])
        assert document["consent"] == {"court": True}


def _forget_consent_copies(runtime: Runtime) -> None:
    for path in runtime.store.root.rglob("*-consent.gpg"):
        path.unlink()


def _chosen(page: str) -> dict[str, str]:
    """The consent radios checked on a page."""
    return dict(re.findall(r'name="(consent_[a-z_]+)" value="([a-z_]*)" checked', page))


class TestLanguage:
    def test_choice_is_remembered_and_survives_login(self, browser: SourceBrowser) -> None:
        client = browser.client
        assert '<html lang="en" dir="ltr">' in client.get("/").text
        response = client.get("/language/ar?next=/login")
        assert response.headers["Location"] == "/login"
        page = client.get("/login").text
        assert '<html lang="ar" dir="rtl">' in page
        _codename, token = browser.generate()
        client.post("/create", data={"csrf_token": token})
        assert '<html lang="ar" dir="rtl">' in client.get("/lookup").text
        client.get("/language/fr")
        lookup = client.get("/lookup").text
        assert '<html lang="fr" dir="ltr">' in lookup
        assert '<strong lang="fr">Français</strong>' in lookup

    def test_logout_page_speaks_the_chosen_language(self, logged_in: SourceBrowser) -> None:
        logged_in.client.get("/language/fr")
        page = logged_in.logout().text
        assert '<html lang="fr"' in page
        # Quick exit forgets the choice with everything else.
        exit_page = logged_in.client.get("/exit").text
        assert '<html lang="en"' in exit_page

    @pytest.mark.parametrize(
        "target", ["//evil.example/", "https://evil.example/", "/\\evil", "/nowhere", "/create"]
    )
    def test_forged_next_stays_home(self, client: FlaskClient, target: str) -> None:
        response = client.get("/language/fr", query_string={"next": target})
        assert response.headers["Location"] == "/"

    def test_unknown_language_changes_nothing(self, client: FlaskClient) -> None:
        client.get("/language/xx")
        assert '<html lang="en"' in client.get("/").text

    def test_accept_language_is_the_fallback(self, client: FlaskClient) -> None:
        page = client.get("/", headers={"Accept-Language": "sw-KE,sw;q=0.9"}).text
        assert '<html lang="sw" dir="ltr">' in page


def test_exit_page_tells_how_to_close_the_browser(client: FlaskClient) -> None:
    page = client.get("/exit").text
    assert "Ctrl+Shift+Q" in page and "New Identity" in page
    assert "<title>Page not found</title>" in page


def test_csrf_token_is_on_every_new_form(logged_in: SourceBrowser) -> None:
    for path in ("/report", "/help/form", "/help/consent"):
        assert csrf_token(logged_in.client.get(path).text)


NEUTRAL_TITLES = {"Welcome", "Log in", "Your codename", "Your page", "Form", "Information"}


def test_tab_titles_say_nothing_of_the_purpose(logged_in: SourceBrowser) -> None:
    """A tab or a history entry seen over a shoulder names no violence, no help."""
    client = logged_in.client
    pages = ["/lookup", "/report", "/help/", "/help/now", "/help/form", "/help/consent"]
    for path in pages:
        match = re.search(r"<title>(.*?) · BackUp</title>", client.get(path).text)
        assert match and match.group(1) in NEUTRAL_TITLES, path


@pytest.mark.parametrize(
    ("lang", "name"), [("fr", "Congo-Kinshasa"), ("ar", "بوروندي"), ("rw", "Burundi")]
)
def test_countries_are_named_in_the_reader_language(
    logged_in: SourceBrowser, lang: str, name: str
) -> None:
    logged_in.client.get(f"/language/{lang}")
    page = logged_in.client.get("/report").text
    assert f">{name}</option>" in page
    assert not re.search(r">[A-Z]{2}</option>", page)  # never a bare code


def test_urlencoded_body_of_unknown_length_is_refused(logged_in: SourceBrowser) -> None:
    token = logged_in.token("/help/form")
    body = f"csrf_token={token}&needs=legal".encode()
    response = logged_in.client.post(
        "/help/form",
        input_stream=io.BytesIO(body),
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
