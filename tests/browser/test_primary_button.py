"""The primary action of the case forms stands out in a real browser (JavaScript
disabled): its own colours, with WCAG AA contrast measured on the computed style, and
the ordinary buttons beside it stay ordinary."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support.journalist import Account, make_account, make_source


def _login(browser: Browser, served: Served, account: Account) -> Page:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(served.journalist_url + "/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=passphrase]", account.passphrase)
    page.fill("input[name=code]", pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in").click()
    return page


def _rgb(css: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)", css)
    assert match, css
    assert match.group(4) in (None, "1"), f"not opaque: {css}"
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _style(button: Locator, prop: str) -> str:
    return str(button.evaluate(f"e => getComputedStyle(e).{prop}"))


def _assert_primary(button: Locator, ordinary: Locator) -> None:
    expect(button).to_be_visible()
    colour = _rgb(_style(button, "color"))
    background = _rgb(_style(button, "backgroundColor"))
    assert _contrast(colour, background) >= 4.5  # WCAG AA for text
    page_background = _rgb(button.evaluate("e => getComputedStyle(document.body).backgroundColor"))
    assert _contrast(background, page_background) >= 3  # WCAG AA for a control's edge
    assert int(_style(button, "fontWeight")) >= 600
    assert _rgb(_style(ordinary, "backgroundColor")) != background
    button.hover()
    hovered = _rgb(_style(button, "backgroundColor"))
    assert hovered != background and _contrast(colour, hovered) >= 4.5


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_primary_action_stands_out(browser: Browser, served: Served, runtime: Runtime) -> None:
    source = make_source(runtime)
    analyst = _login(browser, served, make_account(runtime, "analyst1"))
    analyst.goto(f"{served.journalist_url}/sources/{source.uuid}")
    create = analyst.get_by_role("button", name="Create a case from this source")
    _assert_primary(create, analyst.get_by_role("button", name="Send reply"))
    # Keyboard users see where they are on it too.
    create.focus()
    assert _style(create, "outlineStyle") == "solid"

    create.click()
    expect(analyst.locator(".flash.success")).to_contain_text("created")
    save = analyst.get_by_role("button", name="Save changes")
    status_moves = analyst.locator("form button:not(.primary)").first
    _assert_primary(save, status_moves)
    analyst.context.close()
