"""One report as a new source sends it, over HTTP: a codename, then a message. Used by
the multi-backend tests (127.0.0.1 or an onion address through a Tor client) and by
bench/backends.py, so both count the same unit of work."""

from __future__ import annotations

import re

import requests

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(html: str) -> str:
    match = _CSRF.search(html)
    if match is None:
        raise AssertionError("no CSRF token on the page")
    return match.group(1)


class NotAcknowledgedError(AssertionError):
    """The product answered, but not with the acknowledgement: which step, what status."""


def send_report(session: requests.Session, base: str, message: str, timeout: float) -> None:
    """A new codename (/generate, /create), then `message` (/lookup, /submit) in one
    session. Returns once acknowledged: the redirect to /lookup, which the source app
    gives only after the submission is sealed in the store and committed with its
    receipt; raises NotAcknowledgedError (or requests' errors) otherwise."""
    page = session.get(f"{base}/generate", timeout=timeout)
    page.raise_for_status()
    created = session.post(
        f"{base}/create",
        data={"csrf_token": _token(page.text)},
        allow_redirects=False,
        timeout=timeout,
    )
    if created.status_code != 302:
        raise NotAcknowledgedError(f"/create answered {created.status_code}")
    lookup = session.get(f"{base}/lookup", timeout=timeout)
    lookup.raise_for_status()
    sent = session.post(
        f"{base}/submit",
        data={"csrf_token": _token(lookup.text), "msg": message},
        allow_redirects=False,
        timeout=timeout,
    )
    if sent.status_code != 302 or sent.headers.get("Location") != "/lookup":
        raise NotAcknowledgedError(f"/submit answered {sent.status_code}: {sent.text[:200]!r}")
