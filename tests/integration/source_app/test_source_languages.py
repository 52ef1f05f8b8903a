"""Every language is complete, compiled, and used on the ALERT and ASSIST pages.

A catalogue that misses a string shows that sentence in English to someone who may not
read it: the first tests fail on any missing, empty, fuzzy or stale entry. The last one
renders the new pages with a pseudo-locale that brackets every translated string, and
fails on any visible text left outside brackets (data apart: names of languages, of
countries, of regions).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

import source_app
from source_app.language import LANGUAGES
from tests.integration.source_app.helpers import SourceBrowser, csrf_token
from tests.integration.source_app.test_source_i18n import _untranslated, pseudo_locale  # noqa: F401
from vault.regions import REGIONS

TRANSLATIONS = Path(source_app.__file__).parent / "translations"
LOCALES = [code for code in LANGUAGES if code != "en"]
# Drafted without a native speaker; see docs/source-experience.md.
NEEDS_REVIEW = {"sw", "rw", "rn", "ar"}
REVIEW_FLAG = "needs-native-review"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _template_ids() -> set[str]:
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        return {m.id for m in read_po(handle) if m.id and isinstance(m.id, str)}


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_is_complete(locale: str) -> None:
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale=locale)
    entries = {m.id: m for m in catalog if m.id}
    template = _template_ids()
    missing = template - {i for i, m in entries.items() if m.string}
    assert missing == set(), f"{locale}: {len(missing)} strings untranslated: {sorted(missing)}"
    # Stale: still in the catalogue, no longer asked for (`pybabel update` makes it obsolete).
    stale = set(entries) - template
    assert stale == set(), f"{locale}: entries the template no longer has: {sorted(stale)}"
    for msgid, message in entries.items():
        assert not message.fuzzy, f"{locale}: fuzzy (ignored when compiled): {msgid!r}"
        assert sorted(PLACEHOLDER.findall(str(message.string))) == sorted(
            PLACEHOLDER.findall(str(msgid))
        ), f"{locale}: placeholders differ in {msgid!r}"
        if locale in NEEDS_REVIEW:
            flags = [c for c in message.user_comments if REVIEW_FLAG in c]
            # Once reviewed, the comment goes; it is never misspelt or half-removed.
            assert flags in ([], [REVIEW_FLAG]), (locale, msgid, message.user_comments)


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_is_current(locale: str) -> None:
    """The committed .mo says exactly what the .po says (`pybabel compile` was run)."""
    folder = TRANSLATIONS / locale / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as handle:
        source = {m.id: m.string for m in read_po(handle) if m.id}
    with open(folder / "messages.mo", "rb") as handle:
        compiled = {m.id: m.string for m in read_mo(handle) if m.id}
    assert compiled == source


@pytest.mark.usefixtures("pseudo_locale")
def test_new_pages_translate_every_visible_string(logged_in: SourceBrowser) -> None:
    client = logged_in.client
    data = [
        *LANGUAGES.values(),
        *(name for regions in REGIONS.values() for name in regions.values()),
    ]
    pages = {
        path: client.get(path).text
        for path in ("/lookup", "/report", "/help/", "/help/now", "/help/form")
    }
    pages["consent"] = client.get("/help/consent").text
    token = csrf_token(pages["/report"])
    bad = {"csrf_token": token, "victims_count": "0", "region": "CD-NK", "country": "RW"}
    pages["alert errors"] = client.post("/report", data=bad).text
    bad = {"csrf_token": token, "contact": "other", "needs": "x", "evil": "1"}
    pages["assist errors"] = client.post("/help/form", data=bad).text
    pages["consent errors"] = client.post("/help/consent", data={"csrf_token": token}).text
    for name, html in pages.items():
        assert "⟦" in html, name
        # Country names come from CLDR in the reader's language: strip the <select>.
        html = re.sub(r'<select id="country".*?</select>', "", html, flags=re.S)
        # A question quoted inside an error message is bracketed twice: ⟦“⟦…⟧”: …⟧.
        while (inner := re.sub(r"⟦[^⟦⟧]*⟧(?=[^⟦]*⟧)", "", html)) != html:
            html = inner
        leftover = _untranslated(html, data)
        assert leftover == "", f"{name}: untranslated text {leftover!r}"


@pytest.mark.usefixtures("pseudo_locale")
def test_emergency_page_for_visitors_is_translated(client: FlaskClient) -> None:
    for path in ("/", "/help/now"):
        html = client.get(path).text
        assert "⟦" in html, path
        assert _untranslated(html, list(LANGUAGES.values())) == "", path
