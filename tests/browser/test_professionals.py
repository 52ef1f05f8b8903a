"""The Professionals page in Chromium with JavaScript disabled, served as in production:
a partner reads the professionals a peer instance published, filters them with the
plain GET form, in English and in French, then gives, and withdraws, their own
agreement to be listed; nothing is requested from another origin."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Browser, Request, expect
from sqlalchemy import select

from composition.runtime import Runtime
from tests.browser.conftest import Served
from tests.support.journalist import make_account
from vault.models import DirectoryListing, PartnerService, Reviewer, Role
from vault.services import directory, federation_peers, partners


def _entry(
    n: int, organisation: str, profession: str, regions: list[str], languages: list[str]
) -> dict[str, object]:
    return {
        "id": f"{n:032x}",
        "organisation": organisation,
        "profession": profession,
        "regions": regions,
        "languages": languages,
        "availability": "Weekdays",
    }


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_partner_reads_filters_and_agrees_without_javascript(
    browser: Browser, served: Served, runtime: Runtime
) -> None:
    admin = make_account(runtime, "admin1", Role.ADMIN)
    nurse = make_account(runtime, "nurse", Role.PARTNER)
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        org = partners.create_org(db, actor, "Clinic Goma", [PartnerService.MEDICAL])
        partners.add_member(db, actor, org.uuid, nurse.uuid)
        peer = federation_peers.add_peer(
            db,
            name="ngo-bujumbura",
            fingerprint="AB" * 32,
            onion="b" * 56 + ".onion",
            verify_key="(the peer's key)",
            client_auth_public="C" * 52,
            release_key=None,
            release_fingerprint=None,
        )
        # What the endpoint keeps from the peer's `directory` envelope
        # (tests/integration/federation/test_directory.py sends it for real).
        directory.receive(
            db,
            peer,
            {
                "version": 1,
                "entries": [
                    _entry(1, "Centre Seruka", "medical", ["Bujumbura"], ["Kirundi", "French"]),
                    _entry(2, "Avocats Sans Frontières", "legal", ["Gitega"], ["Kirundi"]),
                    _entry(3, "Maison Shalom", "shelter", ["Ngozi"], ["Swahili"]),
                ],
            },
        )

    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    foreign: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(served.journalist_url):
            foreign.append(request.url)

    page.on("request", watch)
    page.goto(served.journalist_url + "/login")
    page.get_by_label("Username").fill(nurse.username)
    page.get_by_label("Passphrase").fill(nurse.passphrase)
    page.get_by_label("Two-factor code").fill(pyotp.TOTP(nurse.otp_secret).now())
    page.get_by_role("button", name="Log in", exact=True).click()

    page.get_by_role("link", name="Professionals").click()
    rows = page.locator("tr.professional")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Avocats Sans Frontières")
    expect(page.get_by_text("You are not listed.")).to_be_visible()

    filters = page.locator("form.filters")
    filters.get_by_label("Language").fill("kirundi")
    filters.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    filters.get_by_label("Profession").select_option(label="Medical")
    filters.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Centre Seruka")
    expect(rows.first).to_contain_text("ngo-bujumbura")

    # In French: the page and the professions follow.
    page.get_by_role("button", name="Français").click()
    expect(
        page.get_by_role("heading", name="Professionnels des organisations partenaires")
    ).to_be_visible()
    expect(rows.first).to_contain_text("Médical")

    form = page.locator("form[action$='/professionals/listing']")
    form.get_by_label("Régions couvertes", exact=True).fill("Goma, Rutshuru")
    form.get_by_label("Langues", exact=True).fill("Swahili, Français")
    form.get_by_label("Disponibilité", exact=True).fill("Lundi au vendredi")
    form.get_by_role("checkbox").check()
    form.get_by_role("button", name="M’inscrire").click()
    expect(page.get_by_text("Vous figurez dans l’annuaire")).to_be_visible()
    with runtime.session() as db:
        listing = db.scalars(select(DirectoryListing)).one()
        assert listing.withdrawn_at is None
        _version, body = directory.publication(db)
    assert body["entries"][0]["regions"] == ["Goma", "Rutshuru"]
    assert body["entries"][0]["organisation"] == "Clinic Goma"

    page.get_by_role("button", name="Retirer mon accord").click()
    expect(page.get_by_text("Accord retiré")).to_be_visible()
    with runtime.session() as db:
        assert db.scalars(select(DirectoryListing)).one().withdrawn_at is not None
    assert foreign == []
    context.close()
