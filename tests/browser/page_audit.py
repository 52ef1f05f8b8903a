"""The page-quality audit shared by the source's and the reviewer's page tests: each page
in a real Chromium with JavaScript disabled, screenshots at given widths, axe-core
(WCAG 2.1 A and AA) finds no violation, nothing is requested from another origin, and
the page weighs under a budget with everything it loads.

How axe-core runs although the pages have no JavaScript: the walk itself uses a context
with JavaScript disabled. For each page, a second context with JavaScript enabled (and
CSP bypassed, since our CSP forbids every script) carries the same session cookie and
the same language, loads the same URL, and `page.evaluate`s axe-core's script shipped
by axe-playwright-python. The server renders the same HTML for both (there is no script
that could change the DOM), so axe audits exactly what the browser shows. A page that
only a form's answer shows (a POST) is audited as the browser received it: its HTML is
set into the scripted page, on the same origin.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Request

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
_RTL = frozenset({"ar", "fa", "he", "ur"})


def screenshot_folder(what: str) -> Path | None:
    """`<what>` under $BACKUP_SCREENSHOTS when it is set; None otherwise: screenshots are
    for people to look at, and assert nothing, so a plain run (CI) does not spend the
    seconds on them."""
    configured = os.environ.get("BACKUP_SCREENSHOTS")
    if not configured:
        return None
    folder = Path(configured) / what
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def heaviest(weights: dict[str, int], count: int = 5) -> list[tuple[str, int]]:
    return sorted(weights.items(), key=lambda item: -item[1])[:count]


class PageAudit:
    """One language on one app: a no-JS page for the person, a JS page for axe, one
    session. `weights` collects each page's bytes ("lang name" -> bytes)."""

    def __init__(
        self,
        browser: Browser,
        base_url: str,
        lang: str,
        folder: Path | None,
        *,
        widths: Sequence[int],
        max_bytes: int,
        weights: dict[str, int],
    ) -> None:
        self.base_url, self.lang, self.folder = base_url, lang, folder
        self.widths, self.max_bytes, self.weights = widths, max_bytes, weights
        self.plain = browser.new_context(java_script_enabled=False, locale=lang)
        self.scripted = browser.new_context(bypass_csp=True, locale=lang)
        self.page = self.plain.new_page()
        self.axe_page = self.scripted.new_page()
        self.requests: list[Request] = []
        self.page.on("request", lambda request: self.requests.append(request))

    def close(self) -> None:
        self.plain.close()
        self.scripted.close()

    def settle(self) -> None:
        """Let the previous page finish loading, so that its requests are not counted
        with the next one's."""
        self.page.wait_for_load_state("networkidle")
        self.requests.clear()

    def check(self, path: str, name: str, status: int = 200, lang: str | None = None) -> None:
        """GET `path` in the no-JS page and audit it."""
        self.settle()
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status == status, (self.lang, path)
        self._audit_shown(name, lang)
        self._axe_at(path, name)

    def check_shown(self, name: str, lang: str | None = None, *, weigh: bool = True) -> None:
        """Audit the page the last action (a form's answer) showed, as received; call
        `settle()` before the action."""
        self.page.wait_for_load_state("load")
        self._audit_shown(name, lang, weigh=weigh)
        # axe needs JavaScript: the same HTML, on the same origin, in the scripted page.
        self._share_session()
        self.axe_page.goto(self.base_url + "/nowhere")
        self.axe_page.set_content(self.page.content())
        self._run_axe(name)

    def _audit_shown(self, name: str, lang: str | None, *, weigh: bool = True) -> None:
        lang = lang or self.lang
        html = self.page.locator("html")
        assert html.get_attribute("lang") == lang, (self.lang, name)
        assert html.get_attribute("dir") == ("rtl" if lang in _RTL else "ltr"), name
        self.page.wait_for_load_state("networkidle")
        # Nothing from another origin, and a light page with all it loads.
        urls = [r.url for r in self.requests]
        foreign = [u for u in urls if not u.startswith(self.base_url + "/")]
        assert foreign == [], (self.lang, name, foreign)
        if weigh:
            # Bytes on the wire, headers included, for the page and everything it loaded.
            sizes = [r.sizes() for r in self.requests]
            weight = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
            assert weight < self.max_bytes, (self.lang, name, weight)
            self.weights[f"{self.lang} {name}"] = weight
        for width in self.widths if self.folder else ():
            self.page.set_viewport_size({"width": width, "height": 800})
            self.page.screenshot(
                path=self.folder / f"{self.lang}-{name}-{width}.png", full_page=True
            )

    def _share_session(self) -> None:
        self.scripted.clear_cookies()
        self.scripted.add_cookies(self.plain.cookies())  # type: ignore[arg-type]

    def _axe_at(self, path: str, name: str) -> None:
        self._share_session()
        self.axe_page.goto(self.base_url + path)
        self._run_axe(name)

    def _run_axe(self, name: str) -> None:
        results = Axe().run(self.axe_page, options=AXE_OPTIONS)
        violations = [
            (v["id"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]
        ]
        assert violations == [], (self.lang, name, violations)
