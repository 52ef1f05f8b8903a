"""Every reviewer page, in English and French, in a real Chromium with JavaScript
disabled: screenshots at 1280 px and 1920 px, axe-core (WCAG 2.1 A and AA) finds no
violation, nothing is requested from another origin, and the page weighs under 40 KB
with everything it loads (tests/browser/page_audit.py says how).

The instance has something on every page (tests/support/reviewer_pages.py): the admin,
who works cases too and is always on the care team, walks the analyst's and the admin's
pages; an analyst and the clinic's partner walk theirs. 40 KB: the heaviest pages
measured at 66e6767 were the audit log (about 16 KB with this instance's events) and the
case page (about 13 KB); the budget leaves room for the workbench's richer lists and
dashboard without letting a page grow unnoticed.

Screenshots go to $BACKUP_SCREENSHOTS if set, else to `screenshots/reviewer` in
pytest's base temporary directory (kept after the run; the path is printed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Served
from tests.browser.page_audit import PageAudit, heaviest, screenshot_folder
from tests.support import reviewer_pages
from tests.support.journalist import Account
from vault.runtime import Runtime

MAX_PAGE_BYTES = 40 * 1024
WEIGHTS: dict[str, int] = {}  # "lang name" -> bytes, printed at the end
WIDTHS = (1280, 1920)
LANGUAGES = {"en": "English", "fr": "Français"}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = screenshot_folder(tmp_path_factory.getbasetemp(), "reviewer")
    yield folder
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
    browser: Browser, served: Served, runtime: Runtime, screenshots: Path, lang: str
) -> None:
    def audit_for(who: str) -> PageAudit:
        return PageAudit(
            browser,
            served.journalist_url,
            lang,
            screenshots / who,
            widths=WIDTHS,
            max_bytes=MAX_PAGE_BYTES,
            weights=WEIGHTS,
        )

    for who in ("admin", "analyst", "partner"):
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
        ]:
            admin.check(path, name)
        admin.check("/nowhere", "not-found", status=404)
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
            ("/care/", "care-queue"),
            (f"/cases/{case}", "case"),
            (f"/referrals/{referral}", "referral"),
        ]:
            analyst.check(path, name)
        analyst.check("/admin/", "forbidden", status=403)

        for path, name in [
            ("/", "inbox"),
            ("/referrals/", "referrals"),
            (f"/referrals/{referral}", "referral"),
        ]:
            partner.check(path, name)
        partner.check("/cases/", "forbidden", status=403)
    finally:
        for audit in (admin, analyst, partner):
            audit.close()
