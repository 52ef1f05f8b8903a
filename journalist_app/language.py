"""The reviewer's language: chosen with a small form in the layout, kept in the session.

Reviewers work in Tor Browser too, which asks for en-US whatever its user reads (it
hides the language to resist fingerprinting): Accept-Language is only the fallback, an
explicit choice in the (sealed, server-side) session wins. The choice survives logging
in (see `auth.login`); logging out forgets it, with everything else.

Choosing is a POST with the CSRF token, like every other change in this app. Before
login the form posts to the login page itself (the only public page: `PUBLIC_ENDPOINTS`
stays as it is); once logged in it posts to `language.choose`.

A locale is offered as soon as its catalogue is compiled (`pybabel compile`), named in
its own language (an autonym, from CLDR): a reader finds theirs without reading ours.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel import Locale
from flask import Blueprint, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, get_locale, ngettext
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES_KEY",
    "SESSION_KEY",
    "bp",
    "offered",
    "remember",
    "safe_next",
    "select_locale",
    "template_globals",
]

DEFAULT_LOCALE = "en"
SESSION_KEY = "lang"
LOCALES_KEY = "JOURNALIST_LOCALES"
_RTL = frozenset({"ar", "fa", "he", "ur"})

bp = Blueprint("language", __name__)


def offered() -> list[str]:
    """English first, then every locale with a compiled catalogue (set by the factory)."""
    compiled: list[str] = current_app.config[LOCALES_KEY]
    return [DEFAULT_LOCALE, *sorted(code for code in compiled if code != DEFAULT_LOCALE)]


def select_locale() -> str:
    chosen = session.get(SESSION_KEY)
    available = offered()
    if isinstance(chosen, str) and chosen in available:
        return chosen
    return request.accept_languages.best_match(available) or DEFAULT_LOCALE


def remember(code: str) -> None:
    """Keep an offered locale in the session; anything else is ignored."""
    if code in offered():
        session[SESSION_KEY] = code


def _autonym(code: str) -> str:
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def _here() -> str:
    """Where the language form brings the reviewer back: this page, if a GET shows it."""
    if request.method == "GET" and request.query_string:
        return request.full_path
    return request.path


def template_globals() -> dict[str, Any]:
    locale = get_locale()
    code = str(locale) if locale is not None else DEFAULT_LOCALE
    logged_in = g.get("reviewer") is not None
    return {
        "lang": code.replace("_", "-"),
        "dir": "rtl" if code.split("_")[0] in _RTL else "ltr",
        "languages": [(c, _autonym(c)) for c in offered()],
        "current_language": code,
        "language_action": url_for("language.choose" if logged_in else "auth.login"),
        "here": _here(),
    }


def safe_next(target: str) -> str:
    """Back to the page the reviewer was on, if it is one of ours that a GET can show.

    The field comes from the page but could be forged: only a path that our URL map
    matches is followed, so the redirect cannot leave for another site.
    """
    path = target.split("?", 1)[0]
    if not path.startswith("/") or path.startswith("//") or "\\" in target:
        return url_for("inbox.index")
    try:
        current_app.url_map.bind("localhost").match(path, method="GET")
    except (RequestRedirect, HTTPException):
        return url_for("inbox.index")
    return target


@bp.post("/language")
def choose() -> ResponseReturnValue:
    # CSRFProtect has checked the token before the view runs; the login gate, the login.
    remember(request.form.get("language", ""))
    return redirect(safe_next(request.form.get("next", "")))


# -- Formatting that depends on the language ----------------------------------------


@bp.app_template_filter("utc")
def utc(value: dt.datetime, seconds: bool = False) -> str:
    """A timestamp as the reviewer reads it: ISO date and time, marked as UTC."""
    when = value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return _("%(time)s UTC", time=when)


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    """A size in decimal units, with the reader's decimal mark and unit symbols."""
    if size >= 10**9:
        return _("%(size)s GB", size=_decimal(size / 10**9))
    if size >= 10**6:
        return _("%(size)s MB", size=_decimal(size / 10**6))
    if size >= 10**3:
        return _("%(size)s kB", size=_decimal(size / 10**3))
    return ngettext("%(num)s byte", "%(num)s bytes", size)


def _decimal(amount: float) -> str:
    return str(format_decimal(round(amount, 1), format="#,##0.#"))
