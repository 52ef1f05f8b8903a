"""Security headers and tor2web refusal, applied to every response of both apps."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, abort, request
from markupsafe import Markup

# Defined without Flask (gunicorn's master loads them), used and re-exported here.
from web_shared.headers import CSP as CSP
from web_shared.headers import SECURITY_HEADERS as SECURITY_HEADERS

# Headers tor2web proxies add; such a request reached us from the clear web.
TOR2WEB_HEADERS = ("X-tor2web", "X-Tor2web")
# Where WSGI puts them (one key: names are case-insensitive). Looked up in the environ
# directly: asking `request.headers` for a header a request lacks raises and catches an
# exception per name, on every request.
_TOR2WEB_ENVIRON_KEYS = frozenset(
    "HTTP_" + name.upper().replace("-", "_") for name in TOR2WEB_HEADERS
)


def page_csp(style_source: str) -> str:
    """The policy of an app's pages: `CSP` allowing exactly one stylesheet, named by its
    hash ('sha256-...'). No 'unsafe-inline', no 'self': nothing else styles a page."""
    return CSP.replace("style-src 'none'", f"style-src {style_source}")


def stylesheet_source(css: str) -> str:
    """The CSP source expression that allows exactly this `<style>` element's text."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def inline_stylesheet(path: Path) -> tuple[Markup, str]:
    """An app's stylesheet, read once at start-up, for a `<style>` element in the head of
    every page (one request per page over Tor: nothing is cached, no second round trip),
    with the CSP source that allows it. Returns (text, source)."""
    css = path.read_text(encoding="utf-8")
    if "</" in css:
        # Would end the <style> element early; our stylesheets never hold it.
        raise ValueError(f"{path} cannot be inlined")
    text = Markup(css)  # noqa: S704  # nosec B704
    return text, stylesheet_source(css)


def security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        response.headers[name] = value
    return response


def _security_headers_with(csp: str) -> Callable[[Response], Response]:
    headers = tuple(
        (name, csp if name == "Content-Security-Policy" else value)
        for name, value in SECURITY_HEADERS
    )

    lowered = frozenset(name.lower() for name, _value in headers)

    def apply(response: Response) -> Response:
        response_headers = response.headers
        # Werkzeug keeps a response's headers as a list of (name, value). Setting each
        # of ours would scan it once per header; a response that carries none of them
        # yet (nearly all) gets them appended at once. Ours are constants, checked
        # when the module was written, so need no validation per response.
        present = response_headers._list
        if any(name.lower() in lowered for name, _value in present):
            for name, value in headers:
                response_headers[name] = value  # replaces what a view set
        else:
            present.extend(headers)
        return response

    return apply


def refuse_tor2web() -> None:
    environ = request.environ
    if any(key in environ for key in _TOR2WEB_ENVIRON_KEYS):
        abort(403, description="tor2web")


# Names a health check on the server itself may use; never reachable from outside, as the
# apps listen on 127.0.0.1 only and tor forwards only to them with the onion Host.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


def _host_name(host: str) -> str:
    """`Host` without its port, lower-cased (`name:80` -> `name`)."""
    name, _sep, port = host.rpartition(":")
    if name and port.isdigit() and "]" not in port:
        host = name
    return host.lower().rstrip(".")


def host_allowed(host: str, onion_host: str | None) -> bool:
    """Whether a production app answers a request with this `Host` header."""
    name = _host_name(host)
    return name in LOCAL_HOSTS or (onion_host is not None and name == onion_host)


def _refuse_other_hosts(onion_host: str | None) -> Callable[[], None]:
    def check() -> None:
        # A request naming another host came through something other than our onion
        # service (a DNS-rebinding page, a misrouted proxy, a scanner that found the
        # port): it gets nothing, not even the landing page.
        if not host_allowed(request.host, onion_host):
            abort(421)

    return check


def refuse_nul() -> None:
    """A NUL character in the path, query or form is never legitimate, and PostgreSQL
    refuses it in text: answer 400 instead of failing deep inside a query. So is a
    multipart part without a name (Werkzeug files it under the key None)."""
    values: list[str | None] = [request.path]
    if request.query_string:  # without one there are no arguments to parse
        values += [*request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values(), *request.files.keys()]
    if any(value is None or "\x00" in value for value in values):
        abort(400)


def pages_csp(static_folder: Path) -> str:
    """The CSP of the pages of the app whose static folder this is."""
    return page_csp(inline_stylesheet(static_folder / "style.css")[1])


STYLE_KEY = "inline_style"  # the template global holding the app's stylesheet
CSP_KEY = "CONTENT_SECURITY_POLICY"  # app.config: the policy its pages carry


def install(app: Flask, *, production: bool = False, onion_host: str | None = None) -> None:
    """Headers on every response; tor2web refused; in production, only our onion Host.

    The app's `static/style.css` is read here, once, and offered to templates as
    `inline_style`; its hash goes into the app's CSP.
    """
    if production:
        app.before_request(_refuse_other_hosts(onion_host))
    app.before_request(refuse_tor2web)
    app.before_request(refuse_nul)
    if app.static_folder is None:
        raise ValueError("the app has no static folder")
    css, source = inline_stylesheet(Path(app.static_folder) / "style.css")
    app.jinja_env.globals[STYLE_KEY] = css
    app.config[CSP_KEY] = page_csp(source)
    app.after_request(_security_headers_with(app.config[CSP_KEY]))
