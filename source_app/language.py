"""The source's language: chosen with a plain form (no JavaScript), kept in the session.

Tor Browser asks for en-US whatever its user reads (it hides the user's language to
resist fingerprinting), so Accept-Language is only the fallback: an explicit choice in
the (encrypted, server-side) session wins. The choice survives logging in; the quick
exit and logging out forget it, with everything else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from babel import Locale
from flask import Blueprint, current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from source_app.auth import LANGUAGE

__all__ = ["LANGUAGES", "SESSION_KEY", "bp", "select_locale", "template_globals"]

DEFAULT_LOCALE = "en"
SESSION_KEY = LANGUAGE  # one name, shared with log_in (which keeps it)
LOCALES_KEY = "SOURCE_LOCALES"
# Each language in its own name (autonym): a reader finds theirs without reading ours.
LANGUAGES = {
    "en": "English",
    "fr": "Français",
    "sw": "Kiswahili",
    "rw": "Ikinyarwanda",
    "rn": "Ikirundi",
    "ar": "العربية",
}
_RTL = frozenset({"ar"})

bp = Blueprint("language", __name__)


def _available() -> list[str]:
    offered: list[str] = current_app.config[LOCALES_KEY]
    return [code for code in LANGUAGES if code in offered]


# Parsed once per process: Flask-Babel would parse the code again on every request.
_LOCALES: dict[str, Locale] = {}
# Accept-Language → the language it picks, per offer (Tor Browser sends one header for
# all its users). Bounded: a header chosen by a client cannot grow it past this.
_BEST_MATCHES: dict[tuple[str, tuple[str, ...]], str] = {}
_MAX_BEST_MATCHES = 256


def _locale(code: str) -> Locale:
    locale = _LOCALES.get(code)
    if locale is None:
        locale = _LOCALES[code] = Locale.parse(code)
    return locale


def _best_match(available: list[str]) -> str:
    key = (request.headers.get("Accept-Language", ""), tuple(available))
    code = _BEST_MATCHES.get(key)
    if code is None:
        code = request.accept_languages.best_match(available) or DEFAULT_LOCALE
        if len(_BEST_MATCHES) >= _MAX_BEST_MATCHES:
            _BEST_MATCHES.clear()
        _BEST_MATCHES[key] = code
    return code


def select_locale() -> Locale:
    chosen = session.get(SESSION_KEY)
    available = _available()
    if isinstance(chosen, str) and chosen in available:
        return _locale(chosen)
    return _locale(_best_match(available))


# The path of each language's link, per script root: the same for every visitor.
_CHOOSE_PATHS: dict[tuple[str, str], str] = {}
# As url_for encodes a query (werkzeug), so the links read as before.
_QUERY_SAFE = "!$'()*,/:;?@"


def _choose_path(code: str) -> str:
    key = (request.script_root, code)
    path = _CHOOSE_PATHS.get(key)
    if path is None:
        path = _CHOOSE_PATHS[key] = url_for("language.choose", code=code)
    return path


def template_globals() -> dict[str, Any]:
    locale = get_locale()
    code = str(locale) if locale is not None else DEFAULT_LOCALE
    here = request.path
    back = "?" + urlencode({"next": here}, safe=_QUERY_SAFE)
    available = _available()
    return {
        "lang": code.replace("_", "-"),
        "dir": "rtl" if code in _RTL else "ltr",
        "languages": [(c, LANGUAGES[c]) for c in available],
        # (code, autonym, link to choose it and come back here)
        "language_links": [(c, LANGUAGES[c], _choose_path(c) + back) for c in available],
        "current_language": code,
        "here": here,
    }


def _safe_next(path: str) -> str:
    """Back to the page the source was on, if it is one of ours that a GET can show.

    The field comes from the page but could be forged: only a path that our URL map
    matches is followed, so the redirect cannot leave for another site.
    """
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return url_for("main.index")
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except RequestRedirect:
        return url_for("main.index")
    except HTTPException:
        return url_for("main.index")
    return path


@bp.get("/language/<code>")
def choose(code: str) -> ResponseReturnValue:
    """A plain link per language, not a form: it works without JavaScript, needs no
    session (nor a CSRF token) until it is followed, and a forged link can at worst
    change the language (cookies are SameSite=Strict: another site's link sends none)."""
    if code in _available():
        session[SESSION_KEY] = code
    return redirect(_safe_next(request.args.get("next", "")))
