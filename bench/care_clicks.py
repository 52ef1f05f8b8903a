"""Clicks from the reviewer's login page to an answer sent to an urgent care request,
counted in Debian's Chromium with JavaScript disabled (as tests/browser drives it).

Counted: every click, every form field typed, every page load of the tab. No time is
taken from it: the browser's speed on a shared machine says nothing about the product.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyotp
from playwright.sync_api import Download, Page, expect, sync_playwright

if TYPE_CHECKING:
    from bench.care_accounts import Account
    from bench.tor_speed_uploads import BackUp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]


@dataclass
class Clicks:
    clicks: int = 0
    fields: int = 0
    loads: int = 0
    typed: int = 0  # characters typed into the fields
    steps: list[str] = field(default_factory=list)


class CountedPage:
    """A tab whose clicks, fields and page loads go to `counts` (its own by default;
    several tabs may share one)."""

    def __init__(self, page: Page, counts: Clicks | None = None) -> None:
        self.page, self.counts = page, counts or Clicks()
        page.on("load", self._loaded)

    def _loaded(self, _page: Page) -> None:
        self.counts.loads += 1

    def click(self, selector: str, what: str) -> None:
        self.page.locator(selector).click()
        # Without JavaScript every click here submits a form or follows a link.
        self.page.wait_for_load_state("load")
        self.counts.clicks += 1
        self.counts.steps.append(f"click {what}")

    def fill(self, selector: str, value: str, what: str, *, secret: bool = False) -> None:
        """Type `value`; a secret (passphrase, code) counts as a field, not its random
        length."""
        self.page.fill(selector, value)
        self.counts.fields += 1
        self.counts.typed += 0 if secret else len(value)
        self.counts.steps.append(f"type {what}")

    def choose(self, selector: str, value: str, what: str) -> None:
        """Pick an option of a select (one click: the keyboard or the mouse picks it)."""
        self.page.locator(selector).select_option(value)
        self.counts.clicks += 1
        self.counts.steps.append(f"choose {what}")

    def tick(self, selector: str, what: str) -> None:
        """Tick a checkbox or a radio button: a click that loads nothing."""
        self.page.locator(selector).check()
        self.counts.clicks += 1
        self.counts.steps.append(f"tick {what}")

    def download(self, selector: str, what: str) -> Download:
        """A click whose answer is a file, not a page."""
        with self.page.expect_download() as info:
            self.page.locator(selector).click()
        self.counts.clicks += 1
        self.counts.steps.append(f"click {what} (download)")
        return info.value


def count_clicks(server: BackUp, account: Account, last_login_step: int, contact: str) -> Clicks:
    """Log in as `account` (a new TOTP code: the last one was used at `last_login_step`),
    open the request whose contact text is `contact`, take it, answer it.

    Runs in a thread of its own: Playwright's sync API refuses a thread whose asyncio
    loop is running (a caller already driving a browser, e.g. the test suite's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_count_clicks, server, account, last_login_step, contact).result()


def _count_clicks(server: BackUp, account: Account, last_login_step: int, contact: str) -> Clicks:
    while int(time.time() // 30) <= last_login_step:
        time.sleep(0.5)  # a code is accepted once: wait for the next one
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = CountedPage(browser.new_context(java_script_enabled=False).new_page())
            tab.page.goto(f"http://127.0.0.1:{server.journalist_port}/login")
            tab.counts.steps.append("open the login page")
            tab.fill("input[name=username]", account.username, "username")
            tab.fill("input[name=passphrase]", account.passphrase, "passphrase")
            tab.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now(), "code")
            tab.click("form button[type=submit]:has-text('Log in')", "Log in")
            # An on-duty member lands on the care queue while a request waits untaken;
            # otherwise (the inbox) the queue is one click away.
            if not tab.page.url.endswith("/care/"):
                tab.click("nav a[href='/care/']", "Care queue")
            request = f"article.care-request.urgent:has-text({contact!r}) h2 a"
            tab.click(request, "the request")
            tab.click("button:has-text('Take it')", "Take it")
            expect(tab.page.locator(".flash.success")).to_contain_text("The request is yours.")
            tab.fill("textarea[name=message]", "A nurse can see you today.", "answer")
            tab.click("button:has-text('Send encrypted answer')", "Send encrypted answer")
            expect(tab.page.locator(".flash.success")).to_contain_text("encrypted and stored")
            tab.page.wait_for_load_state("load")
            return tab.counts
        finally:
            browser.close()
