"""The landing and codename pages are rendered once per language and kept
(web_shared.rendering.render_page): what each visitor sees must not change for it.

Each language still shows its own page, each visit to "I am new" still gets its own
codename (kept where it always was: the visitor's sealed cookie) and its own CSRF token,
and a flashed message still shows once. A page whose template does anything but print a
value as it is is never kept. Real app, real Redis and database, real catalogues.
"""

from __future__ import annotations

from pathlib import Path

from babel.support import Translations
from flask import Flask, request
from flask.testing import FlaskClient
from flask_babel import Babel
from jinja2 import DictLoader

import source_app
from tests.integration.source_app.helpers import CODENAME_RE, COOKIE, SourceBrowser, csrf_token
from web_shared import rendering, security

CATALOGUES = Path(source_app.__file__).parent / "translations"


def _french(text: str) -> str:
    translated: str = Translations.load(str(CATALOGUES), ["fr"]).gettext(text)
    assert translated != text, f"no French for {text!r}"
    return translated


def test_a_language_switch_shows_the_other_language(client: FlaskClient, app: Flask) -> None:
    english = client.get("/").text
    assert '<html lang="en" dir="ltr">' in english
    assert "I am new" in english
    # Choosing French (the language links): the same page, now in French.
    assert client.get("/language/fr?next=/").status_code == 302
    french = client.get("/").text
    assert '<html lang="fr" dir="ltr">' in french
    assert _french("I am new") in french
    assert "I am new" not in french
    # Another visitor, and one whose browser asks for French, each get their own.
    other = app.test_client()
    assert '<html lang="en" dir="ltr">' in other.get("/").text
    asks_french = other.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert '<html lang="fr" dir="ltr">' in asks_french
    asks_arabic = other.get("/", headers={"Accept-Language": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in asks_arabic
    assert '<html lang="en" dir="ltr">' in other.get("/", headers={"Accept-Language": "en"}).text
    # The language links name the page they come back to.
    assert 'href="/language/fr?next=/generate"' in other.get("/generate").text


def test_each_visit_to_i_am_new_gets_its_own_codename(browser: SourceBrowser) -> None:
    first, first_token = browser.generate()
    second, second_token = browser.generate()
    assert first != second
    assert first_token and second_token
    cookie = browser.cookie()
    assert cookie is not None and cookie.startswith("a.")  # sealed, on the visitor's side
    assert first not in cookie and second not in cookie
    # The last codename shown is the one created: it logs in later, the first does not.
    response = browser.client.post("/create", data={"csrf_token": second_token})
    assert response.headers["Location"] == "/lookup"
    assert browser.submit("first message").status_code == 302
    assert browser.logout().status_code == 200
    assert browser.login(first).status_code == 403
    assert browser.login(second).headers["Location"] == "/lookup"


def test_many_visitors_get_different_codenames(app: Flask) -> None:
    shown = set()
    for _ in range(6):
        page = app.test_client().get("/generate").text
        match = CODENAME_RE.search(page)
        assert match is not None
        shown.add(match.group(1))
        assert csrf_token(page)
    assert len(shown) == 6


def test_a_flashed_message_shows_once_on_a_kept_page(client: FlaskClient) -> None:
    token = csrf_token(client.get("/generate").text)  # the page is kept from now on
    with client.session_transaction() as session:
        session.pop("codename")  # lost (e.g. another tab used it)
    response = client.post("/create", data={"csrf_token": token})
    assert response.headers["Location"] == "/generate"
    flashed = client.get("/generate").text
    assert "That codename was not created. Here is a new one: keep it safe." in flashed
    assert CODENAME_RE.search(flashed)
    again = client.get("/generate").text
    assert "That codename was not created" not in again
    assert CODENAME_RE.search(again)
    assert client.get_cookie(COOKIE) is not None


def _small_app(tmp_path: Path) -> Flask:
    """An app with only the rendering and the headers, and templates of its own."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "style.css").write_text("p{color:black}", encoding="utf-8")
    app = rendering.SyncApp("kept", static_folder=str(static))
    Babel(app)
    rendering.install(app)
    security.install(app)
    app.jinja_loader = DictLoader(
        {
            "plain.html": "<p>{{ word }}</p><i>{{ word }}</i><b>{{ token() }}</b>",
            "upper.html": "<p>{{ word|upper }}</p>",
        }
    )

    @app.get("/<name>")
    def page(name: str) -> str:
        word = request.args["w"]
        return rendering.render_page(f"{name}.html", word=word, token=lambda: word[::-1])

    @app.get("/headers")
    def own_headers() -> tuple[str, dict[str, str]]:
        return "x", {"Cache-Control": "public, max-age=3600", "X-Frame-Options": "SAMEORIGIN"}

    return app


def test_kept_pages_take_each_visits_values_escaped(tmp_path: Path) -> None:
    app = _small_app(tmp_path)
    client = app.test_client()
    assert client.get("/plain?w=one").text == "<p>one</p><i>one</i><b>eno</b>"
    kept = [page for page in app.extensions["backup_rendered_pages"].pages.values() if page]
    assert len(kept) == 1
    assert client.get("/plain", query_string={"w": "<a&b>"}).text == (
        "<p>&lt;a&amp;b&gt;</p><i>&lt;a&amp;b&gt;</i><b>&gt;b&amp;a&lt;</b>"
    )


def test_a_page_that_changes_a_value_is_never_kept(tmp_path: Path) -> None:
    app = _small_app(tmp_path)
    client = app.test_client()
    assert client.get("/upper?w=abc").text == "<p>ABC</p>"
    assert client.get("/upper?w=xyz").text == "<p>XYZ</p>"
    assert list(app.extensions["backup_rendered_pages"].pages.values()) == [None]


def test_headers_a_view_set_are_replaced_by_ours(tmp_path: Path) -> None:
    client = _small_app(tmp_path).test_client()
    response = client.get("/headers")
    assert response.headers.getlist("Cache-Control") == ["no-store, max-age=0"]
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    plain = client.get("/plain?w=x")
    csp = plain.headers["Content-Security-Policy"]
    assert "style-src 'sha256-" in csp
    for name, value in security.SECURITY_HEADERS:
        expected = csp if name == "Content-Security-Policy" else value
        assert plain.headers.getlist(name) == [expected], name
