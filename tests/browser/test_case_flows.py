"""Opening a case in a real browser with JavaScript disabled: from a source page, one
submit sets urgency, priority, labels, assignees and due date; back on the source page
the second-case warning names the case and offers it first; a second case needs the
confirmation and starts with the first one's flags."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support.journalist import Account, make_account, make_source
from vault.models import Case, CasePriority


def _login(browser: Browser, served: Served, account: Account) -> Page:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    return page


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_open_a_case_in_one_submit_then_the_second_case_warning(
    browser: Browser, served: Served, runtime: Runtime
) -> None:
    source = make_source(runtime)
    me = make_account(runtime, "analyst1")
    colleague = make_account(runtime, "analyst2")
    analyst = _login(browser, served, me)
    analyst.goto(f"{served.journalist_url}/sources/{source.uuid}")

    # -- one form, one submit ----------------------------------------------------------
    form = analyst.locator("form.new-case")
    expect(form).to_be_visible()
    expect(form.get_by_label(me.username)).to_be_checked()  # the creator, by default
    form.get_by_label("Urgent medical need").check()
    form.get_by_label("Priority").select_option("high")
    form.get_by_label("Labels").fill("medical kivu")
    form.get_by_label(colleague.username).check()
    form.get_by_label("Due date (UTC)").fill("2030-01-02")
    form.get_by_role("button", name="Create a case from this source").click()
    expect(analyst.locator(".flash.success")).to_contain_text("created")
    reference = analyst.locator("h1").inner_text().split()[0]
    assert re.fullmatch(r"BU-\d{4}-\d{4}", reference)
    expect(analyst.locator("h1 .urgent")).to_be_visible()
    expect(analyst.locator("span.label")).to_have_text(["kivu", "medical"])
    expect(analyst.locator("span.assignee")).to_have_text([me.username, colleague.username])
    with runtime.session() as db:
        [case] = db.scalars(select(Case)).all()
        assert case.priority is CasePriority.HIGH and case.urgent_medical
        assert case.due_at is not None and case.due_at.date().isoformat() == "2030-01-02"

    # -- the case page: one save for everything ------------------------------------------
    edit = analyst.locator("form.edit-case")
    edit.get_by_label("Labels").fill("kivu legal")
    edit.get_by_label(colleague.username).uncheck()
    edit.get_by_role("button", name="Save changes").click()
    expect(analyst.locator(".flash.success")).to_have_text("Changes saved.")
    expect(analyst.locator("span.label")).to_have_text(["kivu", "legal"])
    expect(analyst.locator("span.assignee")).to_have_text([me.username])

    # -- back on the source page: the warning, the case that exists first ----------------
    analyst.goto(f"{served.journalist_url}/sources/{source.uuid}")
    warning = analyst.locator(".second-case")
    expect(warning).to_contain_text(f"This source is already in the open case {reference}")
    expect(warning.get_by_role("link", name=f"Open {reference}")).to_be_visible()
    expect(warning.get_by_role("button", name=f"Add to {reference}")).to_be_visible()
    second = analyst.locator("form.new-case")
    expect(second).to_be_hidden()  # folded away: opening a second case is a choice
    analyst.locator("details.new-case summary").click()
    expect(second.get_by_label("Urgent medical need")).to_be_checked()  # copied
    expect(second.get_by_label("Labels")).to_have_value("kivu legal")
    confirm = second.get_by_label("Yes, open a second case for this source")
    expect(confirm).to_have_attribute("required", "")
    confirm.check()
    second.get_by_role("button", name="Open a second case").click()
    expect(analyst.locator(".flash.success")).to_contain_text("created")
    other = analyst.locator("h1").inner_text().split()[0]
    assert other != reference
    expect(analyst.locator("span.label")).to_have_text(["kivu", "legal"])

    # -- "Add to that case" leads to the existing case ----------------------------------
    analyst.goto(f"{served.journalist_url}/sources/{source.uuid}")
    analyst.locator(".second-case").get_by_role("button").click()
    expect(analyst.locator("h1")).to_contain_text(re.compile(r"BU-\d{4}-\d{4}"))
    with runtime.session() as db:
        assert len(db.scalars(select(Case)).all()) == 2
    analyst.context.close()
