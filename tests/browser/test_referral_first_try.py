"""A referral that works on the first try, in a real browser with JavaScript disabled:
an admin creates a partner account, an analyst refers an urgent case with a sealed
message BEFORE the partner ever logged in, the partner logs in for the first time,
reads it, accepts and writes to the source; the analyst's dashboard shows that the
partner accepted and answered; the source reads the partner's message as the partner
organisation's and answers. Then the markers are searched for everywhere the server
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
from tests.support.consent import record_consent
from tests.support.journalist import Account, make_account
from vault.models import AccountKey, Case, Reviewer, Role

URGENT_MARKER = "MARKER-urgent-3f0a9c51 raped two days ago, needs PEP today"
TO_SOURCE_MARKER = "MARKER-to-source-b81d4e07 come to the clinic this afternoon"
ANSWER_MARKER = "MARKER-answer-6c2e1f93 I will come"


def _new_page(browser: Browser) -> Page:
    return browser.new_context(java_script_enabled=False).new_page()


def _login(browser: Browser, served: Served, account: Account) -> Page:
    page = _new_page(browser)
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("input[name=code]")).to_have_count(0)
    return page


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_referral_first_try(browser: Browser, served: Served, runtime: Runtime) -> None:
    # -- a source sends a message ---------------------------------------------------
    source = _new_page(browser)
    source.goto(served.source_url)
    source.get_by_role("link", name="I am new").click()
    codename = source.locator(".codename").inner_text().strip()
    source.get_by_role("button", name=re.compile("continue", re.I)).click()
    source.fill("#msg", "I need a doctor")
    source.get_by_role("button", name="Send").click()
    source.context.close()

    # -- the admin creates the clinic and its partner account ---------------------------
    admin = _login(browser, served, make_account(runtime, "admin1", Role.ADMIN))
    admin.goto(served.journalist_url + "/admin/reviewers/new")
    admin.fill("input[name=username]", "clinic-nurse")
    admin.locator("select[name=role]").select_option("partner")
    admin.get_by_role("button", name="Add").click()
    passphrase = admin.locator(".secret.passphrase").inner_text().strip()
    otp_secret = admin.locator(".secret.totp-secret").inner_text().replace(" ", "")
    admin.goto(served.journalist_url + "/partners/")
    admin.fill("input[name=name]", "Clinic Kigali")
    admin.locator("select[name=services]").select_option("medical")
    admin.get_by_role("button", name="Add", exact=True).click()
    admin.locator("select[name=account]").select_option(label="clinic-nurse")
    admin.locator("select[name=org]").select_option(label="Clinic Kigali")
    admin.get_by_role("button", name="Make member").click()
    expect(admin.locator("li.member")).to_contain_text("Clinic Kigali")
    admin.context.close()
    with runtime.session() as db:
        nurse = db.scalars(select(Reviewer).where(Reviewer.username == "clinic-nurse")).one()
        assert db.get(AccountKey, nurse.id) is not None  # the key, before any login
        nurse_uuid = nurse.uuid

    # -- the analyst refers the urgent case, with a message, before the partner logs in -
    analyst_account = make_account(runtime, "analyst1")
    analyst = _login(browser, served, analyst_account)
    analyst.locator("nav a[href='/']").click()  # analysts land on the dashboard
    analyst.locator("tbody a").first.click()
    analyst.get_by_label("Urgent medical need").check()
    analyst.get_by_role("button", name="Create a case from this source").click()
    reference = analyst.locator("h1").inner_text().split()[0]
    with runtime.session() as db:  # the source's consent, as from the workstation
        case = db.scalars(select(Case)).one()
        case_uuid, source_uuid = case.uuid, case.sources[0].uuid
    record_consent(
        runtime, analyst_account.uuid, case_uuid, source_uuid, "refer_partner", "contact_partner"
    )
    analyst.get_by_role("link", name="Referrals").click()
    analyst.get_by_role("button", name="Refer").click()
    analyst.fill("textarea[name=text]", URGENT_MARKER)
    analyst.get_by_role("button", name="Send encrypted message").click()
    expect(analyst.locator(".message-text")).to_have_text(URGENT_MARKER)
    # The analyst cannot accept for the partner: only withdrawing is offered.
    expect(analyst.get_by_role("button", name="Mark as Accepted")).to_have_count(0)
    expect(analyst.get_by_role("button", name="Mark as Declined")).to_have_count(1)
    analyst.get_by_role("link", name="Dashboard").click()
    expect(analyst.locator(".partner-activity")).to_contain_text("Nothing new from partners.")

    # -- the partner's first login: the message reads, they accept and write ----------
    partner = _login(browser, served, Account(nurse_uuid, "clinic-nurse", passphrase, otp_secret))
    partner.get_by_role("link", name="Referrals").first.click()
    partner.get_by_role("link", name=reference).click()
    expect(partner.locator(".message-text")).to_have_text(URGENT_MARKER)
    expect(partner.get_by_text("not encrypted to your key")).to_have_count(0)
    partner.get_by_role("button", name="Mark as Accepted").click()
    expect(partner.locator(".referral-status")).to_have_text("Accepted")
    partner.fill("textarea[name=message]", TO_SOURCE_MARKER)
    partner.get_by_role("button", name="Send reply").click()
    expect(partner.locator(".flash.success")).to_be_visible()
    partner.context.close()

    # -- the analyst's dashboard: accepted and answered, no content --------------------
    analyst.reload()
    activity = analyst.locator(".partner-activity li")
    expect(activity).to_have_count(1)
    expect(activity).to_contain_text(reference)
    expect(activity.locator(".badge.referral")).to_have_text("Accepted")
    expect(activity.locator(".status-changed")).to_be_visible()
    expect(activity.locator(".new-replies")).to_have_text("the partner wrote to the source (1)")
    assert TO_SOURCE_MARKER not in analyst.content()
    analyst.context.close()

    # -- the source reads the partner's message, from the organisation, and answers ---
    back = _new_page(browser)
    back.goto(served.source_url)
    back.get_by_role("link", name="I have a codename").click()
    back.fill("#codename", codename)
    back.get_by_role("button", name="Continue").click()
    expect(back.locator(".reply .text")).to_have_text(TO_SOURCE_MARKER)
    expect(back.locator(".reply .from-partner")).to_contain_text(
        "From Clinic Kigali, a partner organisation of WWoW."
    )
    back.fill("#msg", ANSWER_MARKER)
    back.get_by_role("button", name="Send").click()
    expect(back.locator(".flash.ok").first).to_be_visible()
    back.context.close()

    # -- none of it, nor the partner's passphrase, in plaintext on the server side -----
    leaks.assert_no_leak(
        (URGENT_MARKER, TO_SOURCE_MARKER, ANSWER_MARKER, passphrase),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )
