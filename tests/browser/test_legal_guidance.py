"""The investigators' guide and the legal guidance channel in a real browser with
JavaScript disabled, on the served apps: a lawyer of a partner organisation reads the
guide, asks WWoW's legal adviser about a case referred to them; the adviser finds it in
**Legal questions** and answers; the lawyer reads the answer. Then the question and the
answer are searched for everywhere the server writes (files, logs, database, Redis)."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support import leaks
from tests.support.consent import record_consent
from tests.support.journalist import Account, make_account, make_source
from vault.models import PartnerService, Reviewer, Role
from vault.services import cases, guidance, partners, referrals

QUESTION_MARKER = "MARKER-legal-question-7a21c5e9"
ANSWER_MARKER = "MARKER-legal-answer-d40b8f13"


def _login(browser: Browser, served: Served, account: Account) -> Page:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    return page


def _reviewer(db: Session, account: Account) -> Reviewer:
    return db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_guide_and_legal_question(browser: Browser, served: Served, runtime: Runtime) -> None:
    admin = make_account(runtime, "admin1", Role.ADMIN)
    analyst = make_account(runtime, "analyst1")
    adviser = make_account(runtime, "adviser1")
    lawyer = make_account(runtime, "lawyer1", Role.PARTNER)
    source = make_source(runtime)
    with runtime.session_factory() as db:
        actor = _reviewer(db, admin)
        org = partners.create_org(db, actor, "Lawyers B", [PartnerService.LEGAL])
        partners.add_member(db, actor, org.uuid, lawyer.uuid)
        guidance.set_legal_adviser(db, actor, _reviewer(db, adviser), True)
        case = cases.create_case(db, _reviewer(db, analyst), [source.uuid])
        db.commit()
        case_uuid, reference, org_uuid = case.uuid, case.reference, org.uuid
    record_consent(runtime, analyst.uuid, case_uuid, source.uuid, "refer_partner")
    with runtime.session_factory() as db:
        made = referrals.create_referral(
            db, _reviewer(db, analyst), case_uuid, org_uuid, source.uuid
        )
        referral_uuid = made.uuid
        db.commit()

    # The adviser has logged in once (its account key exists: what is asked is sealed to it).
    counsel = _login(browser, served, adviser)

    # -- the lawyer reads the guide, then asks about the case referred to them ----------
    partner = _login(browser, served, lawyer)
    partner.get_by_role("link", name="Guide").click()
    expect(partner.get_by_role("heading", level=1)).to_contain_text(
        "Documenting conflict-related sexual violence"
    )
    partner.get_by_role("link", name="5. Chain of custody, step by step with BackUp").click()
    expect(partner.locator("#chain-of-custody-step-by-step-with-backup")).to_be_visible()
    partner.get_by_role("link", name="Referrals").click()
    partner.get_by_role("link", name=reference).click()
    partner.get_by_role("link", name="Legal guidance").click()
    partner.get_by_label("Your question").fill(f"{QUESTION_MARKER} can we use the photos?")
    partner.get_by_role("button", name="Send encrypted question").click()
    expect(partner.locator(".flash.success")).to_contain_text("encrypted and sent")
    expect(partner.locator(".guidance-question .message-text")).to_contain_text(QUESTION_MARKER)

    # -- the adviser finds it waiting, reads it and answers ------------------------------
    counsel.get_by_role("link", name="Legal questions").click()
    counsel.get_by_role("link", name=reference).click()
    expect(counsel.locator(".guidance-question .message-text")).to_contain_text(QUESTION_MARKER)
    counsel.get_by_label("Answer").fill(f"{ANSWER_MARKER} only the originals, with consent")
    counsel.get_by_role("button", name="Send encrypted answer").click()
    expect(counsel.locator(".guidance-answer .message-text")).to_contain_text(ANSWER_MARKER)
    counsel.get_by_role("link", name="Legal questions").click()
    expect(counsel.get_by_text("No question is waiting.")).to_be_visible()
    counsel.context.close()

    # -- the lawyer reads the answer ------------------------------------------------------
    partner.goto(f"{served.journalist_url}/referrals/{referral_uuid}/guidance")
    expect(partner.locator(".guidance-answer .message-text")).to_contain_text(ANSWER_MARKER)
    partner.context.close()

    leaks.assert_no_leak(
        (QUESTION_MARKER, ANSWER_MARKER),
        files=[runtime.config.instance_dir, served.server_tmp, served.log_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )
