"""Every source page, in every language, in a real Chromium with JavaScript disabled:
screenshots at 360 px and 1280 px, axe-core (WCAG 2.1 A and AA) finds no violation,
nothing is requested from another origin, and the page weighs under 25 KB with
everything it loads.

How axe-core runs although the pages have no JavaScript: the walk itself uses a context
with JavaScript disabled. For each page, a second context with JavaScript enabled (and
CSP bypassed, since our CSP forbids every script) carries the same session cookie and
the same language, loads the same URL, and `page.evaluate`s axe-core's script shipped
by axe-playwright-python. The server renders the same HTML for both (there is no script
that could change the DOM), so axe audits exactly what the source sees.

Screenshots go to $BACKUP_SCREENSHOTS if set, else to `screenshots/` in pytest's base
temporary directory (kept after the run; the path is printed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Request

from source_app.language import LANGUAGES
from tests.browser.conftest import Served

MAX_PAGE_BYTES = 25 * 1024
WEIGHTS: dict[str, int] = {}  # "lang path" -> bytes, printed at the end
WIDTHS = (360, 1280)
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
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
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = Path(os.environ.get("BACKUP_SCREENSHOTS") or tmp_path_factory.getbasetemp())
    folder = folder / "screenshots" if "BACKUP_SCREENSHOTS" not in os.environ else folder
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nscreenshots of the source pages: {folder}")
    heaviest = sorted(WEIGHTS.items(), key=lambda item: -item[1])[:5]
    print("heaviest pages (bytes with all they load):", heaviest)


class _Audit:
    """One language: a no-JS page for the source, a JS page for axe, same session."""

    def __init__(self, browser: Browser, served: Served, lang: str, folder: Path) -> None:
        self.served, self.lang, self.folder = served, lang, folder
        self.plain = browser.new_context(java_script_enabled=False, locale=lang)
        self.scripted = browser.new_context(bypass_csp=True, locale=lang)
        self.page = self.plain.new_page()
        self.axe_page = self.scripted.new_page()
        self.requests: list[Request] = []
        self.page.on("request", lambda request: self.requests.append(request))

    def close(self) -> None:
        self.plain.close()
        self.scripted.close()

    def _share_session(self) -> None:
        self.scripted.clear_cookies()
        self.scripted.add_cookies(self.plain.cookies())  # type: ignore[arg-type]

    def check(self, path: str, name: str, status: int = 200) -> None:
        # Let the previous page finish loading, so that its requests are not counted here.
        self.page.wait_for_load_state("networkidle")
        self.requests.clear()
        response = self.page.goto(self.served.source_url + path)
        assert response is not None and response.status == status, (self.lang, path)
        assert self.page.locator("html").get_attribute("lang") == self.lang, path
        expected_dir = "rtl" if self.lang == "ar" else "ltr"
        assert self.page.locator("html").get_attribute("dir") == expected_dir, path
        # Nothing from another origin, and a light page with all it loads.
        urls = [r.url for r in self.requests]
        foreign = [u for u in urls if not u.startswith(self.served.source_url + "/")]
        assert foreign == [], (self.lang, path, foreign)
        # Bytes on the wire, headers included, for the page and everything it loaded.
        sizes = [r.sizes() for r in self.requests]
        weight = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
        assert weight < MAX_PAGE_BYTES, (self.lang, path, weight)
        WEIGHTS[f"{self.lang} {path}"] = weight
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 800})
            self.page.screenshot(
                path=self.folder / f"{self.lang}-{name}-{width}.png", full_page=True
            )
        self._axe(path)

    def check_logged_out(self) -> None:
        """The page a POST to /logout answers: audited as the browser received it."""
        self.page.wait_for_load_state("networkidle")
        self.requests.clear()
        with self.page.expect_navigation():
            self.page.locator("form.logout button[type=submit]").click()
        assert self.page.locator("html").get_attribute("lang") == self.lang
        foreign = [r.url for r in self.requests if not r.url.startswith(self.served.source_url)]
        assert foreign == [], (self.lang, foreign)
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 800})
            self.page.screenshot(
                path=self.folder / f"{self.lang}-logged-out-{width}.png", full_page=True
            )
        # axe needs JavaScript: the same HTML, on the same origin, in the scripted context.
        self.axe_page.goto(self.served.source_url + "/nowhere")
        self.axe_page.set_content(self.page.content())
        self._run_axe("logged-out")

    def _axe(self, path: str) -> None:
        self._share_session()
        self.axe_page.goto(self.served.source_url + path)
        self._run_axe(path)

    def _run_axe(self, path: str) -> None:
        results = Axe().run(self.axe_page, options=AXE_OPTIONS)
        violations = [
            (v["id"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]
        ]
        assert violations == [], (self.lang, path, violations)


def _log_in(page: Page, served: Served) -> None:
    page.goto(served.source_url + "/generate")
    page.locator("form[action='/create'] button[type=submit]").click()


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_page_in_every_language(
    browser: Browser, served: Served, screenshots: Path, lang: str
) -> None:
    audit = _Audit(browser, served, lang, screenshots)
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
        audit.check_logged_out()
        _log_in(audit.page, served)
        # Last: the quick exit ends the session (the language then comes from the
        # browser's Accept-Language, as for any new visitor).
        audit.check("/exit", "exit")
    finally:
        audit.close()
