"""A reviewer in Tor Browser (which always asks for en-US) chooses French on the login
page, with JavaScript disabled, and keeps it once logged in."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Browser, expect

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support.journalist import make_account


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reviewer_chooses_french(browser: Browser, served: Served, runtime: Runtime) -> None:
    account = make_account(runtime, "analyst1")
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto(served.journalist_url + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("h1")).to_have_text("Se connecter")
    page.get_by_label("Nom d’utilisateur").fill(account.username)
    page.get_by_label("Phrase de passe").fill(account.passphrase)
    page.get_by_label("Code de double authentification").fill(pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Se connecter", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # kept through login
    expect(page.get_by_role("link", name="Tableau de bord")).to_be_visible()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    context.close()
