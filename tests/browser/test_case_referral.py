"""Analyst → partner → source in a real browser with JavaScript disabled: a case is made
from a source; the source's change of consent is flagged on the case until the analyst
records it from what the workstation shows; the case is referred (refused before the
consent is recorded), discussed in sealed messages and notes, and the partner's reply
reaches the source. Then the markers are searched for everywhere the server writes."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.browser.conftest import Served
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support import leaks
from tests.support.journalist import Account, make_account
from vault import reports
from vault.consent_record import purposes
from vault.models import PartnerService, Reviewer, Role, Submission
from vault.services import partners
from workstation.consent import ConsentReading, reading_of
from workstation.decrypt import decrypt_downloads

NOTE_MARKER = "MARKER-note-5e1b77d0"
REFERRAL_MARKER = "MARKER-referral-a4c9e210"
PARTNER_REPLY_MARKER = "MARKER-partner-reply-0c3f9b44"


def _new_page(browser: Browser) -> Page:
    return browser.new_context(java_script_enabled=False).new_page()


def _workstation_reads(
    runtime: Runtime, home: Path, out: Path
) -> tuple[Submission, ConsentReading]:
    """The newest message, carried to the workstation and decrypted there."""
    with runtime.session() as db:
        newest = db.scalars(select(Submission).order_by(Submission.id.desc())).first()
        assert newest is not None
        download = out / newest.filename
        out.mkdir(parents=True, exist_ok=True)
        download.write_bytes(
            runtime.store.path_of(newest.source.uuid, newest.filename).read_bytes()
        )
    [plain] = decrypt_downloads(home, SUBMISSION_PASSPHRASE, [download], out / "plain")
    document = reports.loads(plain.read_text())
    assert document is not None
    reading = reading_of(document, newest.filename)
    assert reading is not None
    return newest, reading


def _login(browser: Browser, served: Served, account: Account) -> Page:
    page = _new_page(browser)
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    return page


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_analyst_partner_source(
    browser: Browser,
    served: Served,
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    # -- a source sends a message ---------------------------------------------------
    source = _new_page(browser)
    source.goto(served.source_url)
    source.get_by_role("link", name="I am new").click()
    codename = source.locator(".codename").inner_text().strip()
    source.get_by_role("button", name=re.compile("continue", re.I)).click()
    source.fill("#msg", "I need a doctor")
    source.get_by_role("button", name="Send").click()
    source.context.close()

    # -- the directory: one clinic with one partner account --------------------------
    admin = make_account(runtime, "admin1", Role.ADMIN)
    partner_account = make_account(runtime, "clinic-nurse", Role.PARTNER)
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        clinic = partners.create_org(db, actor, "Clinic Kigali", [PartnerService.MEDICAL])
        partners.add_member(db, actor, clinic.uuid, partner_account.uuid)
    # The partner logs in once first, so their key exists when messages are sealed.
    partner = _login(browser, served, partner_account)

    # -- the analyst makes a case, writes a note, refers it ---------------------------
    analyst = _login(browser, served, make_account(runtime, "analyst1"))
    analyst.locator("nav a[href='/']").click()  # analysts land on the dashboard
    analyst.locator("tbody a").first.click()
    analyst.get_by_label("Urgent medical need").check()
    analyst.get_by_role("button", name="Create a case from this source").click()
    reference = analyst.locator("h1").inner_text().split()[0]
    assert re.fullmatch(r"BU-\d{4}-\d{4}", reference)
    analyst.get_by_role("link", name="Encrypted notes").click()
    analyst.fill("textarea[name=text]", NOTE_MARKER)
    analyst.get_by_role("button", name="Save encrypted note").click()
    expect(analyst.locator(".note-text")).to_have_text(NOTE_MARKER)
    analyst.get_by_role("link", name=reference).click()
    analyst.get_by_role("link", name="Referrals").click()
    analyst.get_by_role("button", name="Refer").click()  # no consent recorded: refused
    expect(analyst.locator(".flash.error")).to_contain_text("does not allow referral")

    # -- the source changes their consent; the case says so until it is recorded -------
    changing = _new_page(browser)
    changing.goto(served.source_url)
    changing.get_by_role("link", name="I have a codename").click()
    changing.fill("#codename", codename)
    changing.get_by_role("button", name="Continue").click()
    changing.goto(served.source_url + "/help/consent")
    changing.check("input[name=consent_handle_case][value=yes]")
    changing.check("input[name=consent_refer_partner][value=yes]")
    changing.check("input[name=consent_contact_partner][value=yes]")
    changing.get_by_role("button", name=re.compile("save|send", re.I)).click()
    changing.context.close()
    analyst.get_by_role("link", name=reference).click()
    expect(analyst.locator(".consent-awaiting")).to_be_visible()
    document, reading = _workstation_reads(runtime, submission_key[1], tmp_path / "ws")
    analyst.select_option("select[name=document]", value=document.uuid)
    for purpose in purposes():
        analyst.check(f"input[name=answer_{purpose}][value={reading.answers[purpose].value}]")
    analyst.fill("input[name=code]", reading.code)
    analyst.get_by_role("button", name="Record consent").click()
    expect(analyst.locator(".flash.success")).to_have_text("Consent recorded.")
    expect(analyst.locator(".consent-awaiting")).to_have_count(0)
    expect(analyst.locator(".answer-refer_partner")).to_have_text("yes")

    analyst.get_by_role("link", name="Referrals").click()
    analyst.get_by_role("button", name="Refer").click()
    analyst.fill("textarea[name=text]", REFERRAL_MARKER)
    analyst.get_by_role("button", name="Send encrypted message").click()
    expect(analyst.locator(".message-text")).to_have_text(REFERRAL_MARKER)
    analyst.context.close()

    # -- the partner sees only the referral, accepts, and replies to the source --------
    partner.goto(served.journalist_url + "/referrals/")
    partner.get_by_role("link", name=reference).click()
    expect(partner.locator(".message-text")).to_have_text(REFERRAL_MARKER)
    # Only what the referral shares: no link to the source page or its files.
    assert partner.locator("a[href*='/sources/']").count() == 0
    partner.get_by_role("button", name="Mark as Accepted").click()
    expect(partner.locator(".referral-status")).to_have_text("Accepted")
    partner.fill("textarea[name=message]", f"{PARTNER_REPLY_MARKER} come on Tuesday")
    partner.get_by_role("button", name="Send reply").click()
    expect(partner.locator(".flash.success")).to_be_visible()
    response = partner.goto(served.journalist_url + "/cases/")
    assert response is not None and response.status == 403
    partner.context.close()

    # -- the source reads the partner's reply -----------------------------------------
    back = _new_page(browser)
    back.goto(served.source_url)
    back.get_by_role("link", name="I have a codename").click()
    back.fill("#codename", codename)
    back.get_by_role("button", name="Continue").click()
    expect(back.locator(".reply .text")).to_have_text(f"{PARTNER_REPLY_MARKER} come on Tuesday")
    back.context.close()

    # -- none of it in plaintext on the server side -------------------------------------
    leaks.assert_no_leak(
        (NOTE_MARKER, REFERRAL_MARKER, PARTNER_REPLY_MARKER),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,  # rows, and the SQLite file with its WAL
        redis=runtime.redis,
    )
