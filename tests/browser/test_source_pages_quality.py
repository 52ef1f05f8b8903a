"""Every source page, in every language, in a real Chromium with JavaScript disabled:
axe-core (WCAG 2.1 A and AA) finds no violation,
nothing is requested from another origin, and the page weighs under 25 KB with
everything it loads (tests/browser/page_audit.py says how).

With $BACKUP_SCREENSHOTS set, screenshots of every page at 360 px and 1280 px go to
`source` in that folder (the path is printed); a plain run takes none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from source_app.language import LANGUAGES
from tests.browser.conftest import Served
from tests.browser.page_audit import PageAudit, heaviest, screenshot_folder

MAX_PAGE_BYTES = 25 * 1024
WEIGHTS: dict[str, int] = {}  # "lang path" -> bytes, printed at the end
WIDTHS = (360, 1280)
ANONYMOUS_PAGES = ["/", "/login", "/nowhere", "/help/now", "/receipt-key"]
SOURCE_PAGES = [
    "/lookup",
    "/report",
    "/help/",
    "/help/now",
    "/help/form",
    "/help/consent",
    "/receipts",
]


@pytest.fixture(scope="module")
def screenshots() -> Iterator[Path | None]:
    folder = screenshot_folder("source")
    yield folder
    if folder:
        print(f"\nscreenshots of the source pages: {folder}")
    print("heaviest pages (bytes with all they load):", heaviest(WEIGHTS))


def _log_in(page: Page, served: Served) -> None:
    page.goto(served.source_url + "/generate")
    page.locator("form[action='/create'] button[type=submit]").click()


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_page_in_every_language(
    browser: Browser, served: Served, screenshots: Path | None, lang: str
) -> None:
    audit = PageAudit(
        browser,
        served.source_url,
        lang,
        screenshots,
        widths=WIDTHS,
        max_bytes=MAX_PAGE_BYTES,
        weights=WEIGHTS,
    )
    try:
        for path in ANONYMOUS_PAGES:
            name = path.strip("/").replace("/", "-") or "index"
            audit.check(path, f"anonymous-{name}", status=404 if path == "/nowhere" else 200)
        audit.check("/generate", "generate")
        _log_in(audit.page, served)
        for path in SOURCE_PAGES:
            name = path.strip("/").replace("/", "-") or "index"
            audit.check(path, name)
        audit.page.goto(served.source_url + "/lookup")
        # The page a POST to /logout answers: audited as the browser received it.
        audit.settle()
        with audit.page.expect_navigation():
            audit.page.locator("form.logout button[type=submit]").click()
        audit.check_shown("logged-out", weigh=False)
        _log_in(audit.page, served)
        # Last: the quick exit ends the session (the language then comes from the
        # browser's Accept-Language, as for any new visitor).
        audit.check("/exit", "exit")
    finally:
        audit.close()
