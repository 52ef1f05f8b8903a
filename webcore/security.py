"""Security headers and tor2web refusal, applied to every response of both apps."""

from __future__ import annotations

from flask import Flask, Response, abort, request

# Headers tor2web proxies add; such a request reached us from the clear web.
TOR2WEB_HEADERS = ("X-tor2web", "X-Tor2web")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["Cache-Control"] = "no-store, max-age=0"
    headers["Pragma"] = "no-cache"
    headers["Expires"] = "0"
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Cross-Origin-Embedder-Policy"] = "require-corp"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
    headers["X-Robots-Tag"] = "noindex, nofollow"
    # Identify nothing about the server software.
    headers["Server"] = "BackUp"
    return response


def refuse_tor2web() -> None:
    if any(name in request.headers for name in TOR2WEB_HEADERS):
        abort(403, description="tor2web")


def install(app: Flask) -> None:
    app.before_request(refuse_tor2web)
    app.after_request(security_headers)
