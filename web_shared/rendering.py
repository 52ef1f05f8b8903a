"""Cheaper page rendering, with nothing kept per visitor.

A page of the source interface makes a few dozen translation look-ups and several
`url_for` calls. Through Flask-Babel each look-up finds the request's context, domain,
locale and catalogue again; through Flask each `url_for` builds the URL again. Here:

- the templates' `gettext`/`ngettext` (and `_`) are bound, once per render, to the
  catalogue of the request's language. The catalogue is the process-wide one Flask-Babel
  already caches per language; the binding lives in the template context of one render.
- `url_for(endpoint)` without values is kept per (endpoint, script root): the same path
  for every visitor. Anything with values, a relative endpoint ('.name') or an external
  URL goes to Flask as before.

Nothing here depends on the session, the visitor or the request's data beyond its
language and script root.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, request
from flask import url_for as flask_url_for
from flask_babel import get_translations
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup

__all__ = ["install"]


def _bound_gettext(translate: Callable[[str], str]) -> Callable[..., str]:
    """Jinja's "newstyle" gettext (autoescape, `%` formatting) over one catalogue."""

    @pass_context
    def gettext(context: Context, string: str, **variables: Any) -> str:
        text: str = translate(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704  # nosec B704
        return text % variables

    return gettext


def _bound_ngettext(translate: Callable[[str, str, int], str]) -> Callable[..., str]:
    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text: str = translate(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704  # nosec B704
        return text % variables

    return ngettext


def _translation_callables() -> dict[str, Any]:
    translations = get_translations()
    return {
        "gettext": _bound_gettext(translations.ugettext),
        "ngettext": _bound_ngettext(translations.ungettext),
    }


def _memo_url_for() -> Callable[..., str]:
    paths: dict[tuple[str, str], str] = {}

    def url_for(endpoint: str, **values: Any) -> str:
        if values or endpoint.startswith("."):
            return flask_url_for(endpoint, **values)
        key = (endpoint, request.script_root)
        path = paths.get(key)
        if path is None:
            path = paths[key] = flask_url_for(endpoint)
        return path

    return url_for


def install(app: Flask) -> None:
    """After Flask-Babel's `init_app`: bind the templates' translations per render and
    keep the value-less `url_for` paths."""
    app.context_processor(_translation_callables)
    app.jinja_env.globals["url_for"] = _memo_url_for()
