"""What a new source met and now meets: who reads what they send, regions for every
listed country without JavaScript, ASSIST asking the coarse place and partner contact,
and chosen files never lost without a word, whatever refused the form."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from sqlalchemy import select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import SourceBrowser, stored_files, submission_count
from vault.models import Submission

FILES_NOTE = "choose them again"


def _post(browser: SourceBrowser, path: str, data: dict[str, Any], **kw: Any) -> Any:
    return browser.client.post(path, data={"csrf_token": browser.token(path), **data}, **kw)


def _regions(page: str) -> set[str]:
    select_ = re.search(r'<select id="region".*?</select>', page, re.S)
    assert select_
    return set(re.findall(r'<option value="([A-Z]{2}-[A-Z0-9]+)"', select_.group(0)))


class TestWhoReads:
    def test_the_landing_page_says_who_runs_it_and_who_reads(self, browser: SourceBrowser) -> None:
        page = browser.client.get("/").text
        assert "WWoW (We are NOT Weapons of War)" in page
        assert "Only the WWoW team reads what you send" in page

    def test_before_the_first_report_and_with_consent(self, logged_in: SourceBrowser) -> None:
        assert "Only the WWoW team reads your report" in logged_in.client.get("/report").text
        form = logged_in.client.get("/help/form").text
        assert "the organisation that runs BackUp" in form


class TestRegions:
    def test_field_countries_are_listed_at_once(self, logged_in: SourceBrowser) -> None:
        regions = _regions(logged_in.client.get("/report").text)
        assert {"BI-GI", "CD-NK", "GN-C", "RW-02"} <= regions
        assert not any(code.startswith("KE-") for code in regions)

    def test_another_country_by_one_button(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        """Sent URL-encoded: the file field brings a name only, and the page says so."""
        answers = {"country": "KE", "account": "typed first", "fh": "photo.jpg"}
        response = _post(logged_in, "/report", {**answers, "show_regions": "yes"})
        assert response.status_code == 200
        assert "KE-01" in _regions(response.text)
        assert "typed first</textarea>" in response.text
        assert '<option value="KE" selected>' in response.text
        assert FILES_NOTE in response.text
        assert submission_count(runtime) == 0 and stored_files(runtime) == []
        # Then the report with a Kenyan region is accepted.
        response = _post(logged_in, "/report", {"region": "KE-01", "account": "typed first"})
        assert response.status_code == 302

    def test_no_file_no_note(self, logged_in: SourceBrowser) -> None:
        response = _post(logged_in, "/report", {"country": "SD", "fh": "", "show_regions": "yes"})
        assert "SD-DN" in _regions(response.text) and FILES_NOTE not in response.text

    def test_assist_asks_the_coarse_place_and_partner_contact(
        self, logged_in: SourceBrowser, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        form = logged_in.client.get("/help/form").text
        assert 'id="country"' in form and 'id="region"' in form and 'id="place"' not in form
        assert 'name="consent_contact_partner"' in form
        shown = _post(logged_in, "/help/form", {"country": "UG", "show_regions": "yes"})
        assert shown.status_code == 200 and _regions(shown.text) >= {"UG-C", "UG-N"}
        assert submission_count(runtime) == 0
        sent = _post(logged_in, "/help/form", {"region": "UG-N", "consent_contact_partner": "yes"})
        assert sent.status_code == 302
        with runtime.session() as db:
            row = db.scalars(select(Submission)).one()
            path = runtime.store.path_of(row.source.uuid, row.filename)
        document = json.loads(
            workstation_keyring.open_bytes(path.read_bytes(), SUBMISSION_PASSPHRASE)
        )
        assert document["assist"]["where"] == {"country": "UG", "region": "UG-N"}
        assert document["assist"]["consent"]["contact_partner"] is True


class TestFilesAreNeverLostSilently:
    def test_an_expired_page(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        """The CSRF token no longer matches: the error page says the files were not sent."""
        for path, extra in (("/report", {}), ("/submit", {"msg": "hello"})):
            data = {"csrf_token": "expired", **extra, "fh": [(io.BytesIO(b"photo"), "p.jpg")]}
            response = logged_in.client.post(path, data=data, content_type="multipart/form-data")
            assert response.status_code == 400, path
            assert "This page has expired" in response.text
            assert "If you chose files, they were not sent" in response.text
        assert stored_files(runtime) == [] and submission_count(runtime) == 0

    def test_a_form_without_files_does_not_mention_them(self, logged_in: SourceBrowser) -> None:
        response = logged_in.client.post("/help/form", data={"csrf_token": "expired"})
        assert response.status_code == 400 and "If you chose files" not in response.text

    def test_too_large(self, make_app: Any, runtime: Runtime) -> None:
        tiny = SourceBrowser(make_app(max_upload_bytes=1000).test_client())
        tiny.create()
        response = tiny.submit("m", [(b"x" * 2000, "a.bin")])
        assert response.status_code == 413
        assert "If you chose files, they were not sent" in response.text
        assert submission_count(runtime) == 0

    def test_in_the_page_language(self, logged_in: SourceBrowser) -> None:
        logged_in.client.get("/language/sw")
        data = {"csrf_token": "expired", "fh": [(io.BytesIO(b"photo"), "p.jpg")]}
        response = logged_in.client.post("/report", data=data, content_type="multipart/form-data")
        assert "Ikiwa ulichagua faili, hazikutumwa" in response.text
