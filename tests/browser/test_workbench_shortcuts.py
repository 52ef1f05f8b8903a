"""The reviewer day's shortcuts in a real Chromium with JavaScript disabled, through the
real apps (gpg, Redis, SQLite): from the dashboard to a care request, answered and
referred in one submit (the answer takes it); a case opened at Judicial (each move
from New in its history); a reply and a source added on the case page (the source
picked from a <datalist>); the partner accepting in the referral list; the audit log
filtered by a category link."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support.care import ask, new_source
from tests.support.journalist import Account, make_account, make_source
from vault.models import (
    CareRequest,
    CareStatus,
    Case,
    CaseStatus,
    Referral,
    ReferralStatus,
    Reply,
    Reviewer,
    Role,
)
from vault.services import care, partners

CONSENTING = {
    "needs": ["medical"],
    "urgency": "today",
    "recent": "yes",
    "consent_refer_partner": "yes",
    "consent_handle_case": "yes",
}


def _login(browser: Browser, served: Served, account: Account) -> Page:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("input[name=code]")).to_have_count(0)
    return page


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_days_shortcuts(browser: Browser, served: Served, runtime: Runtime) -> None:
    admin = make_account(runtime, "admin1", Role.ADMIN)
    nurse = make_account(runtime, "nurse1", Role.PARTNER)
    me = make_account(runtime, "analyst1")
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        clinic = partners.create_org(db, actor, "Clinic Kigali", [partners.PartnerService.MEDICAL])
        partners.add_member(db, actor, clinic.uuid, nurse.uuid)
        mine = db.scalars(select(Reviewer).where(Reviewer.uuid == me.uuid)).one()
        care.set_on_duty(db, None, mine, True)
    partner = _login(browser, served, nurse)
    analyst = _login(browser, served, me)  # holds a key from now: the request is sealed to it

    # -- a care request: from the dashboard, answered and referred in one submit --------
    source = new_source(runtime)
    ask(source, CONSENTING)
    with runtime.session() as db:
        request = db.scalars(select(CareRequest)).one()
        designation = request.source.designation
    analyst.goto(served.journalist_url + "/dashboard/")
    waiting = analyst.locator(".care-requests li.urgent")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("72-hour clock")
    waiting.get_by_role("link").click()
    expect(analyst.locator("h1")).to_contain_text(designation)
    answer = analyst.locator("form.care-answer")
    answer.get_by_label("Answer").fill("A nurse of the clinic can see you today.")
    answer.get_by_label("Refer to a partner").select_option(label="Clinic Kigali")
    answer.get_by_role("button", name="Send encrypted answer").click()
    expect(analyst.locator(".flash.success")).to_have_count(2)
    expect(analyst.locator(".referral-status")).to_have_text("Proposed")
    with runtime.session() as db:
        taken = db.scalars(select(CareRequest)).one()
        assert taken.status is CareStatus.TAKEN and taken.taken_by_id == mine.id
        assert len(db.scalars(select(Reply)).all()) == 1
        referral = db.scalars(select(Referral)).one()
        reference = referral.case.reference
    assert "A nurse of the clinic can see you today." in source.client.get("/lookup").text

    # -- a case opened at Judicial, then a reply and a source added on its page ---------
    first, second = make_source(runtime), make_source(runtime)
    analyst.goto(f"{served.journalist_url}/sources/{first.uuid}")
    form = analyst.locator("form.new-case")
    expect(form.get_by_label("Status")).to_have_value("triage")  # the default
    form.get_by_label("Status").select_option("judicial")
    form.get_by_role("button", name="Create a case from this source").click()
    expect(analyst.locator(".case-status")).to_have_text("Judicial")
    expect(analyst.locator("main ol li")).to_have_count(3)  # New → Triage → … → Judicial
    case_url = analyst.url

    reply = analyst.locator(f"form.case-reply:has(label:text-is('Reply to {first.designation}'))")
    reply.get_by_label(f"Reply to {first.designation}").fill("We read you. Are you safe?")
    reply.get_by_role("button", name="Send reply").click()
    assert analyst.url == case_url
    expect(analyst.locator(".flash.success")).to_contain_text("encrypted and stored")

    add = analyst.locator("form.add-source")
    field = add.get_by_label("Add a source by its designation")
    expect(field).to_have_attribute("list", "source-designations")
    options = analyst.locator("datalist#source-designations option")
    assert second.designation in [o.get_attribute("value") for o in options.all()]
    field.fill(second.designation)
    add.get_by_role("button", name="Add to this case").click()
    expect(analyst.locator(".flash.success")).to_contain_text(f"{second.designation} was added")
    expect(analyst.locator("li.case-source")).to_have_count(2)
    with runtime.session() as db:
        case = db.scalars(select(Case).where(Case.reference != reference)).one()
        assert case.status is CaseStatus.JUDICIAL
        assert {s.uuid for s in case.sources} == {first.uuid, second.uuid}

    # -- the partner accepts in the list -------------------------------------------------
    partner.goto(served.journalist_url + "/referrals/")
    row = partner.locator(f"tr.referral:has(a:text-is('{reference}'))")
    row.get_by_role("button", name=f"Accept {reference}").click()
    assert partner.url.endswith("/referrals/")
    expect(partner.locator(".flash.success")).to_contain_text(reference)
    expect(row.locator(".referral-status")).to_have_text("Accepted")
    expect(row.get_by_role("button")).to_have_count(0)
    with runtime.session() as db:
        assert db.scalars(select(Referral)).one().status is ReferralStatus.ACCEPTED

    # -- the audit log: one category link ----------------------------------------------
    auditor = _login(browser, served, admin)
    auditor.goto(served.journalist_url + "/admin/audit/")
    auditor.locator(".category-links").get_by_role("link", name="Referrals").click()
    assert "category=referrals" in auditor.url
    expect(auditor.locator(".category-links a[aria-current=page]")).to_contain_text("Referrals")
    expect(auditor.locator("tr.event").first).to_be_visible()
    for action in auditor.locator("tr.event td.action code").all_inner_texts():
        assert action.startswith(("referral_", "referrals_", "partner_")), action
