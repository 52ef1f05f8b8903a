"""ALERT + ASSIST walked in a real Chromium with JavaScript disabled, in English, French
and Arabic; then the workstation decrypts the sealed JSON to exactly those answers, and
no answer is found anywhere on the server side.

The walk finds its way by form names, values and link targets, never by visible words,
so the very same walk runs in every language; the words are checked separately.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.browser.conftest import Served
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support import leaks
from vault.models import Source, Submission
from workstation.decrypt import decrypt_downloads
from workstation.report import render_report_file

ACCOUNT = "MARKER-account-6a1f They came at night. ابنتي كانت هناك"
PLACE = "MARKER-place-0c93 near the river"
CONTACT = "MARKER-contact-5e27 ask for Aline"
VOICE = b"OggS MARKER-voice-b4d1 " * 200
CONSENT_AFTER_ASSIST = {
    "handle_case": "yes",
    "refer_partner": "yes",
    "contact_partner": "not_now",
    "statistics": "no",
    "court": "not_now",
}
# What the page says, per language: enough to know the walk really is in that language.
WORDS = {
    "en": ("Tell us what happened", "ltr"),
    "fr": ("Dites-nous ce qui s’est passé", "ltr"),
    "ar": ("أخبرنا بما حدث", "rtl"),
}


def _submit(page: Page, action: str) -> None:
    page.locator(f"form[action='{action}'] button[type=submit]:not([name])").click()


def _walk(page: Page, served: Served, lang: str, voice: Path) -> str:
    page.goto(served.source_url)
    if lang != "en":
        page.locator(f"nav.lang a[hreflang={lang}]").click()
    words, direction = WORDS[lang]
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("html")).to_have_attribute("dir", direction)
    page.locator("a[href='/generate']").first.click()
    codename = page.locator(".codename").inner_text().strip()
    _submit(page, "/create")
    expect(page.locator("html")).to_have_attribute("lang", lang)  # kept through login

    # -- ALERT ------------------------------------------------------------------------
    page.locator("a[href='/report']").click()
    expect(page.locator("h1")).to_have_text(words)
    assert re.fullmatch(r"[^·]+ · BackUp", page.title())  # a neutral tab title
    page.check("input[name=reporter][value=family]")
    page.check("input[name=violence][value=rape]")
    page.check("input[name=violence][value=sexual_slavery]")
    page.fill("#when_date", "2025-06-14")
    page.select_option("#country", "CD")
    page.select_option("#region", "CD-NK")
    page.fill("#place", PLACE)
    page.fill("#victims_count", "2")
    page.check("input[name=victims_sex][value=male]")
    page.check("input[name=victims_age][value='12-17']")
    page.check("input[name=perpetrators][value=armed_group]")
    page.fill("#perpetrators_count", "5")
    page.check("input[name=evidence][value=medical_records]")
    page.set_input_files("#fh", str(voice))
    page.fill("#account", ACCOUNT)
    _submit(page, "/report")

    # -- ASSIST: recent violence, emergency care first -----------------------------
    expect(page).to_have_url(re.compile(r"/help/$"))
    expect(page.locator(".flash.ok").last).to_be_visible()
    # receipt codes for the report and the voice note
    expect(page.locator(".flash.ok").first).to_contain_text(
        re.compile(r"(\w{4}-){2}\w{4}.*(\w{4}-){2}\w{4}")
    )
    page.locator("a[href='/help/now']").first.click()  # "yes" ("not sure" goes there too)
    expect(page.locator(".urgent")).to_be_visible()
    expect(page.locator("body")).to_contain_text("PEP")
    page.locator("a[href='/help/form']").click()
    page.check("input[name=recent][value=yes]")
    page.check("input[name=needs][value=medical]")
    page.check("input[name=needs][value=safety]")
    page.check("input[name=urgency][value=today]")
    page.check("input[name=consent_handle_case][value=yes]")
    page.check("input[name=consent_refer_partner][value=yes]")
    page.check("input[name=consent_statistics][value=no]")
    page.select_option("#region", "CD-SK")
    page.check("input[name=contact][value=other]")
    page.fill("#contact_details", CONTACT)
    _submit(page, "/help/form")
    expect(page).to_have_url(re.compile(r"/lookup$"))

    # -- later: consent to a court case, after logging in again ----------------------
    page.locator("a[href='/help/consent']").click()
    # The answers given with the request are shown as they stand (opened in memory from
    # the copy sealed to this source's reply key): only the court question changes.
    for name, value in CONSENT_AFTER_ASSIST.items():
        expect(page.locator(f"input[name=consent_{name}][value={value}]")).to_be_checked()
    page.check("input[name=consent_court][value=yes]")
    _submit(page, "/help/consent")
    expect(page.locator(".flash.ok").last).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    # Quick exit: a dull page, in a neutral tab, that says how to close the browser.
    page.locator("header a.exit").click()
    expect(page.locator("body")).to_contain_text("Ctrl+Shift+Q")
    return codename


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_alert_and_assist_walk(
    browser: Browser,
    served: Served,
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
    lang: str,
) -> None:
    voice = tmp_path / "voice note.ogg"
    voice.write_bytes(VOICE)
    context = browser.new_context(java_script_enabled=False)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    codename = _walk(context.new_page(), served, lang, voice)
    context.close()

    # -- the workstation opens what the server sealed --------------------------------
    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        rows = db.scalars(select(Submission).order_by(Submission.id)).all()
        sealed = [runtime.store.path_of(source.uuid, row.filename) for row in rows]
    carried = tmp_path / "usb"
    carried.mkdir()
    copies = [Path(shutil.copy(path, carried / path.name)) for path in sealed]
    out = tmp_path / "workstation"
    opened = decrypt_downloads(submission_key[1], SUBMISSION_PASSPHRASE, copies, out)
    assert [p.name.split("-", 2)[-1] for p in opened] == [
        "msg.txt",
        "doc-voice note.ogg",  # N-designation-doc-<original name>
        "msg.txt",
        "msg.txt",
    ]
    alert, assist, consent = (json.loads(opened[i].read_text()) for i in (0, 2, 3))
    assert alert == {
        "schema": "backup.source-report",
        "version": 2,
        "kind": "alert",
        "alert": {
            "reporter": "family",
            "violence": ["rape", "sexual_slavery"],
            "when": {"precision": "day", "date": "2025-06-14"},
            "where": {"country": "CD", "region": "CD-NK", "place": PLACE},
            "victims": {"count": 2, "sex": ["male"], "age_bands": ["12-17"]},
            "perpetrators": {"categories": ["armed_group"], "count": 5},
            "evidence": ["medical_records"],
            "account": ACCOUNT,
        },
    }
    assert opened[1].read_bytes() == VOICE
    assert assist["assist"] == {
        "needs": ["medical", "safety"],
        "urgency": "today",
        "within_72_hours": "yes",
        "where": {"country": "CD", "region": "CD-SK"},
        "consent": {
            "handle_case": True,
            "refer_partner": True,
            "contact_partner": None,
            "statistics": False,
            "court": None,
        },
        "contact": {"method": "other", "details": CONTACT},
    }
    # The change carries every answer as the source saw it: nothing was withdrawn.
    assert consent["consent"] == {
        "handle_case": True,
        "refer_partner": True,
        "contact_partner": None,
        "statistics": False,
        "court": True,
    }
    page = render_report_file(opened[0], out)
    assert page is not None and "Nord-Kivu <code>CD-NK</code>" in page.read_text()

    # -- no answer anywhere on the server side ----------------------------------------
    # The database (rows, its file and WAL beside the instance), Redis, logs, temp dir.
    # The consent pre-fill too: its copy (schema name, answers) is never in clear.
    leaks.assert_no_leak(
        ("MARKER-account-6a1f", "MARKER-place-0c93", "MARKER-contact-5e27",
         "MARKER-voice-b4d1", "ابنتي كانت هناك", codename, "backup.consent-state",
         '"contact_partner"'),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )  # fmt: skip
    # The search does find them where they are expected: the Arabic JSON-escaped.
    found = leaks.LeakScanner("MARKER-place-0c93", "ابنتي كانت هناك").scan(files=[out])
    assert {hit.marker for hit in found} == {"MARKER-place-0c93", "ابنتي كانت هناك"}
    # The apps' own logs were written while they served, and searched: the source app's
    # workers logged, python-gnupg's runs included (sealing itself runs gpg directly).
    logged = served.app_log()
    assert "source app of worker" in logged and "gpg --status-fd" in logged
    # No answer travels in a URL either: only these paths were requested.
    paths = {url.removeprefix(served.source_url) for url in requested}
    assert {"/generate", "/create", "/report", "/help/form"} <= paths  # the walk was seen
    allowed = re.compile(r"^/(|generate|create|lookup|report|help/(|now|form|consent)|exit"
                         r"|static/style\.css|language/[a-z]{2}\?next=/)$")  # fmt: skip
    assert [p for p in paths if not allowed.match(p)] == []
