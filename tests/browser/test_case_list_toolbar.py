"""The case list in a real browser with JavaScript disabled: an analyst lands on the
dashboard, follows a count to the filtered list, filters with the toolbar (keyboard
first), sorts by clicking a column header, resets; a partner organisation's very long
name wraps instead of widening the page."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support.journalist import make_account, make_source
from vault.models import CasePriority, PartnerOrg, Referral, ReferralStatus, Reviewer, Source
from vault.services import case_edits, cases

LONG_NAME = "Clinic" + "x" * 120  # one word, no place to break
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


def _axe_clean(browser: Browser, plain: BrowserContext, url: str) -> None:
    """axe-core (WCAG 2.1 A and AA) on the same page, in the same session: axe needs
    JavaScript, the page has none, so the server renders the same HTML for both."""
    scripted = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    scripted.add_cookies(plain.cookies())  # type: ignore[arg-type]
    page = scripted.new_page()
    page.goto(url)
    results = Axe().run(page, options=AXE_OPTIONS)
    violations = [
        (v["id"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]
    ]
    scripted.close()
    assert violations == [], (url, violations)


def _shows(page: Page, references: list[str]) -> None:
    """The list shows these cases, in this order (waits for the page to load)."""
    expect(page.locator("table.cases tbody td.reference a")).to_have_text(references)


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_toolbar_filters_and_header_sorts(
    browser: Browser, served: Served, runtime: Runtime
) -> None:
    account = make_account(runtime, "analyst1")
    first, second = make_source(runtime), make_source(runtime)
    now = dt.datetime.now(dt.UTC)
    with runtime.session() as db:
        me = db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()
        soon = cases.create_case(db, me, [first.uuid], urgent_medical=True)
        # Only `soon` is assigned to me (a new case's creator is assigned by default).
        later = cases.create_case(db, me, [second.uuid], urgent_medical=True, assignee_uuids=[])
        other = cases.create_case(
            db,
            me,
            [second.uuid],
            priority=CasePriority.HIGH,
            assignee_uuids=[],
            second_case_confirmed=True,
        )
        for case, days in ((soon, 2), (later, 9), (other, 1)):
            case_edits.set_due(db, me, case.uuid, now + dt.timedelta(days=days))
        for case in (soon, later, other):
            case_edits.add_label(db, me, case.uuid, "kivu")
        case_edits.assign(db, me, soon.uuid, me.uuid)
        org = PartnerOrg(name=LONG_NAME, services="medical")
        db.add(org)
        db.flush()
        source_id = db.scalars(select(Source.id).where(Source.uuid == first.uuid)).one()
        db.add(
            Referral(
                case_id=soon.id, org_id=org.id, source_id=source_id, status=ReferralStatus.PROPOSED
            )
        )
        db.commit()

    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()

    # -- the dashboard first; its urgent count opens the filtered list -------------------
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".urgent-total")).to_have_text("2")
    page.get_by_role("link", name=re.compile("open urgent medical cases")).click()
    expect(page).to_have_url(re.compile(r"/cases/\?urgent=1&status=open$"))
    _shows(page, [soon.reference, later.reference])  # same priority: soonest due first
    expect(page.locator(".filter-summary")).to_be_visible()
    expect(page.get_by_label("Urgent medical only")).to_be_checked()

    # -- the keyboard reaches the skip link first, then the page -------------------------
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()

    # -- reset, then the toolbar: filters combine -----------------------------------------
    page.get_by_role("link", name="Reset").click()
    expect(page.locator("table.cases tbody tr")).to_have_count(3)
    expect(page.locator(".filter-summary")).to_have_count(0)
    page.get_by_label("Label").select_option("kivu")
    page.get_by_label("Assignee").select_option("me")
    page.get_by_role("button", name="Filter").click()
    _shows(page, [soon.reference])
    expect(page.get_by_label("Assignee")).to_have_value("me")  # the filter stays visible
    row = page.locator("table.cases tbody tr")
    expect(row.locator(".badge.urgent")).to_have_text("Urgent medical")
    expect(row.locator(".badge.label")).to_have_text("kivu")
    expect(row.locator("td.referrals")).to_contain_text("Proposed")
    # A one-word name of 126 letters wraps: the page stays as wide as the window.
    box = page.locator("table.cases").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
    cell = page.locator("td.referrals").bounding_box()
    assert cell is not None and cell["height"] > 40  # on several lines
    # ...while references and headers keep their words whole (one line each).
    for short in (page.locator("td.reference a").first, page.locator("th a.sort").first):
        line = short.bounding_box()
        assert line is not None and line["height"] < 30

    # -- sort by clicking the Due header: soonest first, then the reverse ---------------
    page.get_by_label("Assignee").select_option("")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Due", exact=True).click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_text("Due")
    _shows(page, [other.reference, soon.reference, later.reference])
    page.get_by_role("link", name="Due", exact=True).click()
    expect(page.locator("th[aria-sort=descending]")).to_have_text("Due")
    _shows(page, [later.reference, soon.reference, other.reference])
    # Filtering again keeps the order, and the filter keeps with the sort.
    page.get_by_label("Urgent medical only").check()
    page.get_by_role("button", name="Filter").click()
    _shows(page, [later.reference, soon.reference])
    expect(page.get_by_label("Label")).to_have_value("kivu")
    # The pages of this test, badges, toolbar and sorted headers included, pass axe.
    for path in (page.url, served.journalist_url + "/dashboard/", served.journalist_url + "/"):
        _axe_clean(browser, context, path)
    context.close()
