"""A WSGI app that answers with the client address it was given, for serving tests that
need to see REMOTE_ADDR (the real apps never show it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def create_app() -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = str(environ.get("REMOTE_ADDR", "")).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app
