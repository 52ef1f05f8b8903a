"""What a new source met, walked in Chromium with JavaScript disabled: consent shown as
it stands after logging in again, an empty report refused kindly, regions offered for
any listed country, and chosen files never lost without a word."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.browser.conftest import Served
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support import leaks
from vault.models import Source, Submission


def _submit(page: Page, action: str) -> None:
    page.locator(f"form[action='{action}'] button[type=submit]:not([name])").click()


def _new_source(page: Page, served: Served, lang: str = "en") -> str:
    page.goto(served.source_url)
    if lang != "en":
        page.locator(f"nav.lang a[hreflang={lang}]").click()
    page.locator("a[href='/generate']").first.click()
    codename = page.locator(".codename").inner_text().strip()
    _submit(page, "/create")
    return codename


def _count(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Submission)) or 0)


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_consent_is_shown_as_it_stands_after_logging_in_again(
    browser: Browser, served: Served, runtime: Runtime, workstation_keyring: GpgKeyring
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    codename = _new_source(page, served, "fr")
    page.goto(served.source_url + "/help/form")
    page.check("input[name=consent_handle_case][value=yes]")
    page.check("input[name=consent_contact_partner][value=yes]")
    page.check("input[name=consent_court][value=no]")
    _submit(page, "/help/form")
    expect(page).to_have_url(re.compile(r"/lookup$"))
    page.locator("form.logout button[type=submit]").click()

    # Another visit, another session: the answers come back from the sealed copy.
    page.goto(served.source_url + "/login")
    page.fill("input[name=codename]", codename)
    _submit(page, "/login")
    page.locator("nav.lang a[hreflang=fr]").click()  # logging out forgot the language
    page.goto(served.source_url + "/lookup")
    page.locator("a[href='/help/consent']").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    chosen = {
        "handle_case": "yes",
        "refer_partner": "not_now",
        "contact_partner": "yes",
        "statistics": "not_now",
        "court": "no",
    }
    for name, value in chosen.items():
        expect(page.locator(f"input[name=consent_{name}][value={value}]")).to_be_checked()
    expect(page.locator("input[value='']")).to_have_count(0)  # nothing "as before"
    page.check("input[name=consent_statistics][value=yes]")
    _submit(page, "/help/consent")
    expect(page.locator(".flash.ok").last).to_be_visible()
    context.close()

    with runtime.session() as db:
        source = db.scalars(select(Source)).one()
        rows = db.scalars(select(Submission).order_by(Submission.id)).all()
        change = runtime.store.path_of(source.uuid, rows[-1].filename).read_bytes()
        consent_files = sorted(p.name for p in runtime.store.source_dir(source.uuid).iterdir())
    document = json.loads(workstation_keyring.open_bytes(change, SUBMISSION_PASSPHRASE))
    assert document["consent"] == {**{k: v == "yes" for k, v in chosen.items()}, "statistics": True,
                                   "refer_partner": None}  # fmt: skip
    # One copy for the page, the newest; the older one was shredded.
    assert [n for n in consent_files if n.endswith("-consent.gpg")] == [
        rows[-1].filename.replace("-msg.gpg", "-consent.gpg")
    ]
    leaks.assert_no_leak(
        ("backup.consent-state", '"contact_partner"', '"statistics": true', codename),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_empty_report_regions_and_files(
    browser: Browser, served: Served, runtime: Runtime, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff not really a photo")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _new_source(page, served, "ar")
    page.goto(served.source_url + "/report")

    # Send with nothing at all: refused kindly, in the page's language; nothing stored.
    _submit(page, "/report")
    expect(page.locator(".error")).to_contain_text("النموذج فارغ")
    assert _count(runtime) == 0

    # Regions of a country that is not listed at once: one button, the answers stay.
    page.fill("#account", "typed before asking for regions")
    page.set_input_files("#fh", str(photo))
    page.select_option("#country", "KE")
    expect(page.locator("#region option[value='KE-01']")).to_have_count(0)
    page.locator("button[name=show_regions]").click()
    expect(page.locator("#account")).to_have_value("typed before asking for regions")
    expect(page.locator("#country")).to_have_value("KE")
    expect(page.locator("#region option[value='KE-01']")).to_have_count(1)
    expect(page.locator("#region optgroup[label]")).to_have_count(5)  # field + Kenya
    # The chosen file went nowhere: the page says it must be chosen again.
    expect(page.locator("[role=status]")).to_contain_text("اخترها مرة أخرى")
    assert _count(runtime) == 0

    # Enter in a one-line field sends nothing and brings nothing back (the page says
    # "Nothing is sent until you press Send"): the only request is Send's own.
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if r.method == "POST" else None)
    page.fill("#place", "typed, then Enter")
    page.locator("#place").press("Enter")
    page.locator("#when_year").press("Enter")
    expect(page.locator("#place")).to_have_value("typed, then Enter")
    assert posts == []

    # A refused report with a file: said on the page.
    page.set_input_files("#fh", str(photo))
    page.fill("#victims_count", "0")
    _submit(page, "/report")
    expect(page.locator(".error")).to_contain_text("اخترها مرة أخرى")
    assert _count(runtime) == 0
    assert len(posts) == 1

    # An expired page (its CSRF token gone with the session) with a file: said too.
    page.set_input_files("#fh", str(photo))
    page.fill("#victims_count", "")
    page.select_option("#region", "KE-01")
    context.clear_cookies()
    _submit(page, "/report")
    # The session is gone, and the language with it: the page speaks the browser's.
    expect(page.locator("main")).to_contain_text("If you chose files, they were not sent")
    assert _count(runtime) == 0
    context.close()
