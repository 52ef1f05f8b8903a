"""A WSGI app that answers with the client address it was given, for serving tests that
need to see REMOTE_ADDR (the real apps never show it), and with a large body at
`/large`, for tests of a client that stops reading."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Written as the apps write files (send_file: 8 KiB blocks).
LARGE_CHUNK = b"\0" * 8192
LARGE_BYTES = 4096 * len(LARGE_CHUNK)  # 32 MiB: far more than the sockets' buffers


def _large() -> Iterator[bytes]:
    for _ in range(LARGE_BYTES // len(LARGE_CHUNK)):
        yield LARGE_CHUNK


def create_app() -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/large":
            start_response(
                "200 OK",
                [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Length", str(LARGE_BYTES)),
                ],
            )
            return _large()
        body = str(environ.get("REMOTE_ADDR", "")).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app
