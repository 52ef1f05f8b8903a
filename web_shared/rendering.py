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

- `render_page`: a page whose text, for a visitor with no flashed message, depends only
  on its language, script root and path, apart from a few named values (a codename, a
  CSRF token), is rendered once per (page, language, script root, path) and process
  with a random marker in place of each value. Each visit then joins the kept pieces
  around its own values, escaped as the template would escape them. Before a page is
  kept, a full render with the visit's real values must give exactly the joined text;
  if not (a filter changed a marker, a value is used where escaping differs), the page
  is always rendered in full. A visitor with a flashed message gets a full render.

Nothing here depends on the session, the visitor or the request's data beyond its
language and script root; what `render_page` keeps is the same text for every visitor
(their own values are never kept).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, render_template, request, session
from flask import url_for as flask_url_for
from flask.globals import request_ctx
from flask_babel import get_locale, get_translations
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup, escape

__all__ = ["SyncApp", "install", "render_page"]


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


_MAX_SYNC_KEPT = 1024


class SyncApp(Flask):
    """Flask, with `ensure_sync` answered once per function.

    Flask asks, for every hook of every request (a dozen before/after/teardown hooks and
    context processors here), whether the function is a coroutine function; the answer
    never changes. The source app has no async functions: each is returned as it is, as
    Flask does; one would still be wrapped as Flask wraps it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._sync[func]
        except KeyError:
            sync = super().ensure_sync(func)
            # The app's hooks and views are a fixed set; a function made per request
            # (`after_this_request`) is not kept once the set is past any real size.
            if len(self._sync) < _MAX_SYNC_KEPT:
                self._sync[func] = sync
            return sync
        except TypeError:  # an unhashable callable: ask Flask every time
            return super().ensure_sync(func)


# A value of `render_page`: text for the context, or a function the template calls
# without arguments (as `csrf_token()`), called once per visit.
PageValue = str | Callable[[], str]
_PAGES_KEY = "backup_rendered_pages"
# Pages kept per app at most: (page, language, script root, path) is a small set in
# practice; past this, pages are rendered in full rather than kept.
MAX_KEPT_PAGES = 256
_FLASHES = "_flashes"  # where Flask keeps flashed messages in the session


class _Page:
    """A rendered page cut at its values: pieces[0] value pieces[1] value ..."""

    __slots__ = ("names", "pieces")

    def __init__(self, pieces: list[str], names: list[str]) -> None:
        self.pieces = pieces
        self.names = names

    def join(self, values: dict[str, str]) -> str:
        out = [self.pieces[0]]
        for name, piece in zip(self.names, self.pieces[1:], strict=True):
            out.append(values[name])
            out.append(piece)
        return "".join(out)


class _KeptPages:
    def __init__(self) -> None:
        self.pages: dict[tuple[str, ...], _Page | None] = {}  # None: never kept
        # Markers: letters and digits only, so autoescape leaves them as they are.
        self.marker = "pg" + secrets.token_hex(16)


def _kept_pages() -> _KeptPages:
    kept: _KeptPages = current_app.extensions[_PAGES_KEY]
    return kept


def _has_flashes() -> bool:
    return bool(session.get(_FLASHES)) or bool(getattr(request_ctx, "flashes", None))


def _returning(text: str) -> Callable[[], str]:
    return lambda: text


def _marked(marker: str, values: dict[str, PageValue]) -> dict[str, PageValue]:
    """The context of the marked render: each value replaced by its marker."""
    context: dict[str, PageValue] = {}
    for name, value in values.items():
        mark = f"{marker}x{name}x"
        context[name] = mark if isinstance(value, str) else _returning(mark)
    return context


def _cut(text: str, marker: str, values: dict[str, PageValue]) -> _Page:
    pattern = re.compile(re.escape(marker) + r"x(" + "|".join(map(re.escape, values)) + r")x")
    parts = pattern.split(text)
    return _Page(parts[0::2], parts[1::2])


def render_page(template: str, **values: PageValue) -> str:
    """`render_template(template, **values)`, from kept pieces where it can be (above).

    Each value must be escaped by the template as it stands (`{{ name }}`, or
    `{{ name() }}` for a function): the first render checks it.
    """
    if _has_flashes():
        return render_template(template, **values)
    # Each visit's own values, computed once, escaped as autoescape would.
    real = {name: value if isinstance(value, str) else value() for name, value in values.items()}
    kept = _kept_pages()
    key = (template, str(get_locale()), request.script_root, request.path, *sorted(values))
    escaped = {name: str(escape(value)) for name, value in real.items()}
    page = kept.pages.get(key)
    if page is not None:
        return page.join(escaped)
    if key in kept.pages:  # found unfit to keep
        return render_template(template, **_as_context(real, values))
    full = render_template(template, **_as_context(real, values))
    if len(kept.pages) < MAX_KEPT_PAGES:
        marked = render_template(template, **_marked(kept.marker, values))
        cut = _cut(marked, kept.marker, values) if values else _Page([marked], [])
        fits = set(cut.names) == set(values) and cut.join(escaped) == full
        kept.pages[key] = cut if fits else None
    return full


def _as_context(real: dict[str, str], values: dict[str, PageValue]) -> dict[str, PageValue]:
    """The visit's values in the form the template expects (text, or a function)."""
    return {
        name: real[name] if isinstance(values[name], str) else _returning(real[name])
        for name in values
    }


def install(app: Flask) -> None:
    """After Flask-Babel's `init_app`: bind the templates' translations per render and
    keep the value-less `url_for` paths."""
    app.context_processor(_translation_callables)
    app.jinja_env.globals["url_for"] = _memo_url_for()
    app.extensions[_PAGES_KEY] = _KeptPages()
