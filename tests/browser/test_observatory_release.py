"""An admin imports a signed release in Chromium with JavaScript disabled and reads it:
the charts (inline SVG, accessible by their titles), the tables with suppressed cells
shown as such, the method; nothing is requested from another origin."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Request, expect

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.browser.conftest import Served
from tests.support.journalist import make_account
from tests.support.releases import signed_release
from tests.unit.workstation.test_observatory_release import SPEC, random_rows
from vault.models import Role


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_admin_imports_and_views_a_release_without_javascript(
    browser: Browser,
    served: Served,
    runtime: Runtime,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> None:
    document, data, signature = signed_release(submission_key, random_rows(300, seed=21), SPEC)
    release = tmp_path / f"release-{document['id']}.json"
    release.write_bytes(data)
    release.with_name(release.name + ".asc").write_bytes(signature)
    account = make_account(runtime, "admin1", Role.ADMIN)

    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    foreign: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(served.journalist_url):
            foreign.append(request.url)

    page.on("request", watch)
    page.goto(served.journalist_url + "/login")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Passphrase").fill(account.passphrase)
    page.get_by_label("Two-factor code").fill(pyotp.TOTP(account.otp_secret).now())
    page.get_by_role("button", name="Log in", exact=True).click()

    page.get_by_role("link", name="Observatory").click()
    expect(page.get_by_role("heading", name="Observatory releases")).to_be_visible()
    page.get_by_label("Release (release-….json)").set_input_files(release)
    page.get_by_label("Its signature (release-….json.asc)").set_input_files(
        release.with_name(release.name + ".asc")
    )
    page.get_by_role("button", name="Verify and import").click()

    expect(page.get_by_text("Release imported: its signature is good.")).to_be_visible()
    for title in ("Victims over time", "Victims by region", "Victims by principal act"):
        chart = page.get_by_role("img", name=title)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    expect(page.get_by_text("Smallest count shown (k)")).to_be_visible()
    # A slice by act, chosen with a plain GET form.
    page.get_by_label("principal act", exact=True).select_option(label="Rape")
    page.get_by_role("button", name="Show this slice").click()
    cross = page.locator("table.release-cross")
    expect(cross.locator("caption")).to_contain_text("principal act: Rape")
    assert cross.locator(".suppressed").count() > 0
    expect(cross.get_by_role("rowheader", name="March 2025")).to_be_visible()
    expect(cross.get_by_role("columnheader", name="Sud-Kivu (CD-SK)")).to_be_visible()

    # In French (the language form in the layout): tables, slice form and charts follow.
    page.get_by_role("button", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    for title in ("Victimes au fil du temps", "Victimes par région", "Victimes par acte principal"):
        expect(page.get_by_role("img", name=title)).to_be_visible()
    chart = page.locator('figure[data-chart="act"]')
    expect(chart).to_contain_text("Esclavage sexuel")
    expect(chart).not_to_contain_text("sexual_slavery")
    page.get_by_label("acte principal", exact=True).select_option(label="Esclavage sexuel")
    page.locator("form.slice button").click()
    expect(cross.locator("caption")).to_contain_text("Esclavage sexuel")
    expect(cross.get_by_role("rowheader", name="mars 2025")).to_be_visible()
    assert foreign == []
    context.close()
