"""web_shared.rendering renders exactly what Flask-Babel and Flask render, per request's
language, with nothing carried from one request to the next."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template_string, request
from flask_babel import Babel

import source_app
from web_shared import rendering

TEMPLATE = (
    "{{ _('Quick exit') }}|{{ _('Language') }}|{{ _('%(x)s!', x=value) }}"
    "|{{ ngettext('%(num)d file', '%(num)d files', n) }}"
    "|{{ url_for('page') }}|{{ url_for('page', q=value) }}"
)


def _app(bound: bool) -> Flask:
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(
        Path(source_app.__file__).parent / "translations"
    )
    Babel(app, locale_selector=lambda: request.args.get("lang", "en"))
    if bound:
        rendering.install(app)

    @app.get("/page")
    def page() -> str:
        return render_template_string(
            TEMPLATE, value=request.args.get("value", "<b>"), n=int(request.args.get("n", "1"))
        )

    return app


def test_same_output_as_flask_babel_in_each_language() -> None:
    plain, bound = _app(False).test_client(), _app(True).test_client()
    for query in ("lang=fr&n=1", "lang=en&n=2", "lang=fr&n=3&value=a%26b", "lang=en&n=1"):
        expected = plain.get("/page?" + query).get_data(as_text=True)
        assert bound.get("/page?" + query).get_data(as_text=True) == expected, query
    french = bound.get("/page?lang=fr").get_data(as_text=True)
    assert french.startswith("Sortie rapide|Langue|&lt;b&gt;!|")  # translated, escaped
    # The next request, in English, gets English: nothing kept from the French one.
    assert bound.get("/page?lang=en").get_data(as_text=True).startswith("Quick exit|Language|")


def test_url_for_kept_per_script_root() -> None:
    client = _app(True).test_client()
    assert client.get("/page").get_data(as_text=True).endswith("|/page|/page?q=%3Cb%3E")
    mounted = client.get("/page", base_url="http://localhost/app")
    assert mounted.get_data(as_text=True).endswith("|/app/page|/app/page?q=%3Cb%3E")
