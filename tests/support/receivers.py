"""Real receivers for the care notifications, on 127.0.0.1: an SMTP server (aiosmtpd)
that keeps every message's raw bytes, and an HTTP server that keeps every POST."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes  # the message as it came over the wire, headers and body
    helo: str
    # When it arrived (wall clock, comparable across processes): for benchmarks of
    # "from the source's Send to the notification".
    received_at: float = field(default_factory=time.time)


@dataclass
class SmtpInbox:
    port: int
    messages: list[ReceivedMail] = field(default_factory=list)
    # While set, DATA is answered with this temporary failure instead of accepted.
    refuse_with: str | None = None
    attempts: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.attempts += 1
        if self.refuse_with is not None:
            return self.refuse_with
        self.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content),
                helo=str(session.host_name),
            )
        )
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)


@dataclass
class WebhookInbox:
    url: str
    posts: list[ReceivedPost] = field(default_factory=list)
    status: int = 204


@contextmanager
def webhook_server(path: str = "/hooks/backup") -> Iterator[WebhookInbox]:
    inbox = WebhookInbox(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            inbox.posts.append(ReceivedPost(self.path, dict(self.headers.items()), body))
            self.send_response(inbox.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    inbox.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
