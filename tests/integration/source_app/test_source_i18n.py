"""Every string a source reads goes through gettext, and the catalog template is current.

Survivors read Kinyarwanda, Kirundi, Swahili, French: an English string left out of
the catalog is a sentence some of them cannot read. The first test renders every page
with a pseudo-translation that brackets each translated string, then checks that no
visible text is left outside brackets (apart from data: codename, reply, dates).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask_babel
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import source_app
from composition.runtime import Runtime
from source_app.language import LANGUAGES
from tests.integration.source_app.helpers import SourceBrowser, every_page_responses
from tests.support.i18n import Bracketing, VisibleText
from vault.models import Source
from vault.services import replies

ROOT = Path(source_app.__file__).parent


def _untranslated(html: str, data: list[str]) -> str:
    parser = VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    text = re.sub(r"⟦[^⟦⟧]*⟧", " ", text)
    # Longest first: "Nord" (a region of Haiti) must not eat into "Nord-Kivu".
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    # What may remain: separators and digits (dates, numbers inside markup).
    return re.sub(r"[\s·\d\-]+", "", text)


@pytest.fixture
def pseudo_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Bracketing())


@pytest.mark.usefixtures("pseudo_locale")
def test_every_visible_string_is_translatable(
    browser: SourceBrowser, make_app: Callable[..., Flask], runtime: Runtime
) -> None:
    pages = {
        name: response.text
        for name, response in every_page_responses(browser, make_app).items()
        # Redirect bodies are Werkzeug's and never shown: the browser follows them.
        if response.mimetype == "text/html" and not 300 <= response.status_code < 400
    }
    reader = SourceBrowser(make_app().test_client())
    pages["generate"] = reader.client.get("/generate").text
    codename = re.search(r'<p class="codename">([a-z\- ]+)</p>', pages["generate"])
    assert codename
    token = re.search(r'name="csrf_token" value="([^"]+)"', pages["generate"])
    assert token
    reader.client.post("/create", data={"csrf_token": token.group(1)})
    pages["lookup of a new source"] = reader.client.get("/lookup").text
    assert reader.submit("first message").status_code == 302  # records the source
    reply = "REPLY-FROM-THE-TEAM"
    with runtime.session() as db:
        source = db.scalars(select(Source).order_by(Source.id.desc())).first()
        assert source is not None
        replies.send_reply(
            db, runtime.store, runtime.keyring, source, None, reply, runtime.submission_fingerprint
        )
    pages["lookup with flash and reply"] = reader.client.get("/lookup").text
    assert reply in pages["lookup with flash and reply"]
    pages["message error"] = reader.submit("").text

    assert len(pages) > 15
    for name, html in pages.items():
        assert "⟦" in html, name
        # Language names are data: each is written in its own language (an autonym).
        leftover = _untranslated(html, [codename.group(1), reply, *LANGUAGES.values()])
        assert leftover == "", f"{name}: untranslated text {leftover!r}"


def test_catalog_template_is_current() -> None:
    """messages.pot holds exactly what the code and templates ask to translate."""
    with open(ROOT / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted: set[Any] = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map
        )
    }
    with open(ROOT / "translations" / "messages.pot", "rb") as handle:
        catalog = read_po(handle)
    committed = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert extracted == committed
    assert len(committed) > 50


def test_language_is_declared(client: FlaskClient) -> None:
    assert '<html lang="en" dir="ltr">' in client.get("/").text
    response = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr" dir="ltr">' in response.text
    # A language we have no catalogue for: English, still declared as such.
    response = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert '<html lang="en" dir="ltr">' in response.text
