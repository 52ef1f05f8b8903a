"""Every reviewer page, in English and French, in a real Chromium with JavaScript
disabled: axe-core (WCAG 2.1 A and AA) finds no
violation, nothing is requested from another origin, and the page weighs under 40 KB
with everything it loads (tests/browser/page_audit.py says how).

The instance has something on every page (tests/support/reviewer_pages.py): the admin,
who works cases too and is always on the care team, walks the analyst's and the admin's
pages; an analyst and the clinic's partner walk theirs. 40 KB: the heaviest pages
measured at 66e6767 were the audit log (about 16 KB with this instance's events) and the
case page (about 13 KB); the budget leaves room for the workbench's richer lists and
dashboard without letting a page grow unnoticed.

With $BACKUP_SCREENSHOTS set, screenshots of every page at 1280 px and 1920 px go to
`reviewer` in that folder (the path is printed); a plain run takes none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.browser.page_audit import PageAudit, heaviest, screenshot_folder
from tests.support import reviewer_pages
from tests.support.journalist import Account
from vault.models import Reviewer
from vault.services import guidance

MAX_PAGE_BYTES = 40 * 1024
WEIGHTS: dict[str, int] = {}  # "lang name" -> bytes, printed at the end
WIDTHS = (1280, 1920)
LANGUAGES = {"en": "English", "fr": "Français"}


@pytest.fixture(scope="module")
def screenshots() -> Iterator[Path | None]:
    folder = screenshot_folder("reviewer")
    yield folder
    if folder:
        print(f"\nscreenshots of the reviewer pages: {folder}")
    print("heaviest pages (bytes with all they load):", heaviest(WEIGHTS))


def _log_in(audit: PageAudit, account: Account) -> None:
    audit.page.goto(audit.base_url + "/login")
    audit.page.fill("input[name=username]", account.username)
    audit.page.fill("input[name=passphrase]", account.passphrase)
    audit.page.fill("input[name=code]", account.code())
    audit.page.locator("main form button[type=submit]").click()
    expect(audit.page.locator("input[name=code]")).to_have_count(0)


def _choose_language(audit: PageAudit, lang: str) -> None:
    """The language form in the header, as the reviewer uses it (a POST, then back)."""
    audit.settle()
    audit.page.locator(f"form.lang button[value={lang}]").click()
    audit.check_shown(f"language-{lang}", lang=lang)


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_reviewer_page(
    browser: Browser, served: Served, runtime: Runtime, screenshots: Path | None, lang: str
) -> None:
    def audit_for(who: str) -> PageAudit:
        return PageAudit(
            browser,
            served.journalist_url,
            lang,
            screenshots / who if screenshots else None,
            widths=WIDTHS,
            max_bytes=MAX_PAGE_BYTES,
            weights=WEIGHTS,
        )

    for who in ("admin", "analyst", "partner") if screenshots else ():
        (screenshots / who).mkdir(exist_ok=True)
    made = reviewer_pages.accounts(runtime)
    admin, analyst, partner = audit_for("admin"), audit_for("analyst"), audit_for("partner")
    try:
        admin.check("/login", "login")
        admin.check("/nowhere", "login-redirect")  # the login page, for any address
        _log_in(admin, made.admin)
        _log_in(analyst, made.analyst)
        _log_in(partner, made.partner)
        seeded = reviewer_pages.content(runtime, made, lang=lang)
        case, referral = seeded.case_uuid, seeded.referral_uuid
        # The admin answers legal questions too (named from the console: actor None).
        with runtime.session_factory() as db:
            account = db.scalars(select(Reviewer).where(Reviewer.uuid == made.admin.uuid)).one()
            guidance.set_legal_adviser(db, None, account, True)
            db.commit()
        source = f"/sources/{seeded.source_uuid}"

        for path, name in [
            ("/", "inbox"),
            ("/?urgent=1&sort=oldest", "inbox-filtered"),
            ("/dashboard/", "dashboard"),
            (source, "source"),
            (f"{source}/delete", "confirm-delete-source"),
            (f"{source}/submissions/{seeded.message_uuid}/delete", "confirm-delete-submission"),
            ("/cases/", "cases"),
            (f"/cases/{case}", "case"),
            (f"/cases/{case}/notes", "case-notes"),
            ("/care/", "care-queue"),
            (f"/care/{seeded.care_uuid}", "care-request"),
            (f"/cases/{case}/referrals", "refer"),
            ("/referrals/", "referrals"),
            (f"/referrals/{referral}", "referral"),
            ("/partners/", "partners"),
            ("/admin/", "admin"),
            ("/admin/reviewers/new", "admin-new-account"),
            (f"/admin/reviewers/{made.partner.uuid}", "admin-reviewer"),
            ("/admin/audit/", "audit-log"),
            ("/admin/retention/", "retention-preview"),
            ("/guide/", "guide"),
            ("/guidance/questions", "legal-questions"),
            (f"/referrals/{referral}/guidance", "legal-guidance"),
        ]:
            admin.check(path, name)
        admin.check("/nowhere", "not-found", status=404)

        # The workbench's pages in the states that matter. The source page: the reply
        # read from its team copy, with the download of its ciphertext.
        admin.check(source, "source-reply")
        reply = admin.page.locator("article.reply")
        expect(reply).to_contain_text("We read your message")
        expect(reply.locator("a[href*='/replies/']")).to_have_count(1)
        # The dashboard's care counts (the admin is on the care team).
        admin.check("/dashboard/", "dashboard-care")
        expect(admin.page.locator(".counts .care-waiting .care-total")).to_have_text("1")
        # Opening a case on a page of its own, then for a source already in a case.
        admin.check(f"/cases/new?source={seeded.fresh_source_uuid}", "case-new")
        expect(admin.page.locator("form.new-case button[type=submit]")).to_have_count(1)
        expect(admin.page.locator(".second-case")).to_have_count(0)
        admin.check(f"/cases/new?source={seeded.source_uuid}", "case-new-second")
        expect(admin.page.locator(".second-case")).to_contain_text(seeded.case_reference)
        expect(admin.page.locator("input[name=confirm_second]")).to_have_count(1)
        # The case list filtered and sorted; the audit log with every filter applied.
        admin.check("/cases/?status=open&urgent=1&sort=due&dir=asc", "cases-filtered")
        expect(admin.page.locator("table.cases tbody tr")).to_have_count(1)
        today = dt.datetime.now(dt.UTC).date().isoformat()
        admin.check(
            f"/admin/audit/?category=cases&actor={made.admin.uuid}"
            f"&object={seeded.case_reference}&since={today}&until={today}",
            "audit-log-filtered",
        )
        expect(admin.page.locator("tr.event").first).to_contain_text(seeded.case_reference)
        # The case page's one edit form, and the page its Save answers with.
        admin.check(f"/cases/{case}", "case-edit")
        edit = admin.page.locator("form.edit-case")
        edit.locator("input[name=labels]").fill("medical north-kivu abduction")
        admin.settle()
        edit.locator("button[type=submit]").click()
        expect(admin.page.locator(".flash.success")).to_have_count(1)
        admin.check_shown("case-saved")
        admin.check(f"/cases/{'0' * 8}-0000-4000-8000-{'0' * 12}", "case-not-found", 404)

        # The credentials page, shown once as the answer to the new-account form.
        admin.page.goto(served.journalist_url + "/admin/reviewers/new")
        admin.page.fill("input[name=username]", "analyst2")
        admin.settle()
        admin.page.locator("main form button[type=submit]").click()
        expect(admin.page.locator(".secret.passphrase")).to_have_count(1)
        admin.check_shown("admin-credentials")

        # The language form: the other language, then back.
        other = next(code for code in LANGUAGES if code != lang)
        admin.page.goto(served.journalist_url + "/cases/")
        _choose_language(admin, other)
        _choose_language(admin, lang)

        # An analyst (no admin links; on the care team while nobody is on duty).
        for path, name in [
            ("/", "inbox"),
            ("/dashboard/", "dashboard"),
            ("/care/", "care-queue"),
            (f"/cases/{case}", "case"),
            (f"/referrals/{referral}", "referral"),
        ]:
            analyst.check(path, name)
        analyst.check("/admin/", "forbidden", status=403)

        # The partner lands on their referrals (the source list's address too).
        partner.check("/", "landing")
        assert partner.page.url.endswith("/referrals/"), partner.page.url
        expect(partner.page.locator("table a")).to_have_count(1)
        for path, name in [
            ("/referrals/", "referrals"),
            (f"/referrals/{referral}", "referral"),
            ("/guide/", "guide"),
        ]:
            partner.check(path, name)
        partner.check("/cases/", "forbidden", status=403)
    finally:
        for audit in (admin, analyst, partner):
            audit.close()
