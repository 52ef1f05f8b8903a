"""The care tier in a real Chromium with JavaScript disabled: a source sends an urgent
ASSIST request, the on-duty reviewer sees it in the care queue, takes it and answers;
the source reads the answer. Then the request's text is searched everywhere the server
writes."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support import leaks
from tests.support.journalist import make_account
from vault.models import CareRequest, CareStatus, Reviewer, Role
from vault.services import care

CONTACT = "MARKER-care-contact-3b8e ask for Aline at the market"
ANSWER = "MARKER-care-answer-91c4 a nurse can see you today"


def _new_page(browser: Browser) -> Page:
    return browser.new_context(java_script_enabled=False).new_page()


def _submit(page: Page, action: str) -> None:
    # The form's own Send (the regions button carries a name).
    page.locator(f"form[action='{action}'] button[type=submit]:not([name])").click()


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_urgent_request_reaches_the_on_duty_reviewer(
    browser: Browser, served: Served, runtime: Runtime
) -> None:
    # -- an analyst on care duty is logged in (their account key exists from then) ------
    account = make_account(runtime, "duty1", Role.ANALYST)
    with runtime.session() as db:
        reviewer_row = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        care.set_on_duty(db, None, reviewer_row, True)
    reviewer = _new_page(browser)
    reviewer.goto(served.journalist_url + "/login")
    reviewer.fill("input[name=username]", account.username)
    reviewer.fill("input[name=passphrase]", account.passphrase)
    reviewer.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    reviewer.get_by_role("button", name="Log in").click()
    expect(reviewer.locator("nav a[href='/care/']")).to_be_visible()

    # -- a new source asks for help: told first who reads it, then sends ------------------
    source = _new_page(browser)
    source.goto(served.source_url)
    source.locator("a[href='/generate']").first.click()
    _submit(source, "/create")
    source.goto(served.source_url + "/help/form")
    expect(source.locator("body")).to_contain_text("The on-duty care team of WWoW can read it")
    expect(source.locator("input[name=care_path][value=care]")).to_be_checked()
    source.check("input[name=recent][value=yes]")
    source.check("input[name=needs][value=medical]")
    source.check("input[name=urgency][value=today]")
    source.check("input[name=contact][value=other]")
    source.fill("#contact_details", CONTACT)
    _submit(source, "/help/form")
    expect(source).to_have_url(re.compile(r"/lookup$"))

    # -- the reviewer's queue shows it, opened in memory; take it and answer -----------
    reviewer.locator("nav a[href='/care/']").click()
    request = reviewer.locator("article.care-request.urgent")
    expect(request).to_have_count(1)
    expect(request).to_contain_text(CONTACT)
    expect(request).to_contain_text("Medical care")
    request.locator("h2 a").click()
    reviewer.get_by_role("button", name="Take it").click()
    expect(reviewer.locator(".flash.success")).to_contain_text("The request is yours.")
    reviewer.fill("textarea[name=message]", ANSWER)
    reviewer.get_by_role("button", name="Send encrypted answer").click()
    expect(reviewer.locator(".flash.success")).to_contain_text("encrypted and stored")
    with runtime.session() as db:
        row = db.scalars(select(CareRequest)).one()
        assert row.urgent and row.status is CareStatus.TAKEN
    reviewer.context.close()

    # -- the source reads the answer ----------------------------------------------------
    source.goto(served.source_url + "/lookup")
    expect(source.locator(".reply .text")).to_have_text(ANSWER)
    source.context.close()

    leaks.assert_no_leak(
        (CONTACT, ANSWER),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )
