"""Over Tor each request costs a round trip (about a second on a real circuit): a source
page is one request. Chromium with JavaScript disabled, as Tor Browser at "Safest", loads
`/` and `/lookup` from the product's real serving path; each load asks for the document
only, its stylesheet arrives inside it and is applied (the CSP names the stylesheet by
its hash: no 'unsafe-inline'), and nothing is refused by the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect

from tests.browser.conftest import Served

# .exit in source_app/static/style.css: the quick-exit link's red background.
EXIT_BACKGROUND = "rgb(165, 14, 14)"


def _load(page: Page, requests: list[Request], url: str) -> list[str]:
    """Load `url` after the previous page has settled; the URLs that load requested."""
    page.wait_for_load_state("networkidle")
    requests.clear()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.wait_for_load_state("networkidle")
    csp = response.headers["content-security-policy"]
    assert "style-src 'sha256-" in csp and "unsafe-inline" not in csp, csp
    assert "no-store" in response.headers["cache-control"]
    return [request.url for request in requests]


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_landing_and_lookup_are_one_request_each(browser: Browser, served: Served) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        requests: list[Request] = []
        page.on("request", lambda request: requests.append(request))
        console: list[ConsoleMessage] = []
        page.on("console", lambda message: console.append(message))

        base = served.source_url
        assert _load(page, requests, base + "/") == [base + "/"]
        expect(page.locator("a.exit")).to_have_css("background-color", EXIT_BACKGROUND)

        # Become a source (the codename page, then its form), then the lookup page.
        assert _load(page, requests, base + "/generate") == [base + "/generate"]
        with page.expect_navigation():
            page.locator("form[action='/create'] button[type=submit]").click()
        assert _load(page, requests, base + "/lookup") == [base + "/lookup"]
        expect(page.locator("a.exit")).to_have_css("background-color", EXIT_BACKGROUND)

        refused = [m.text for m in console if "Content Security Policy" in m.text]
        assert refused == []
    finally:
        context.close()
