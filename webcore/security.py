"""Security headers and tor2web refusal, applied to every response of both apps."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, abort, request

# Headers tor2web proxies add; such a request reached us from the clear web.
TOR2WEB_HEADERS = ("X-tor2web", "X-Tor2web")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


# Every response of both apps carries these, and so do gunicorn's own error responses
# (webcore/serving_worker.py).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("Cache-Control", "no-store, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ("X-Robots-Tag", "noindex, nofollow"),
    # Identify nothing about the server software.
    ("Server", "BackUp"),
)


def security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        response.headers[name] = value
    return response


def refuse_tor2web() -> None:
    if any(name in request.headers for name in TOR2WEB_HEADERS):
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
    values: list[str | None] = [request.path, *request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values(), *request.files.keys()]
    if any(value is None or "\x00" in value for value in values):
        abort(400)


def install(app: Flask, *, production: bool = False, onion_host: str | None = None) -> None:
    """Headers on every response; tor2web refused; in production, only our onion Host."""
    if production:
        app.before_request(_refuse_other_hosts(onion_host))
    app.before_request(refuse_tor2web)
    app.before_request(refuse_nul)
    app.after_request(security_headers)
