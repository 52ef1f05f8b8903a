"""HTTP clients that look like distinct Tor circuits to a server speaking PROXY protocol.

Production's tor opens one connection per stream to the app server and starts it with
a PROXY protocol line naming the circuit (`HiddenServiceExportCircuitID haproxy`):
`PROXY TCP6 fc00:dead:beef:4dad::<circuit id> ::1 <circuit id> <port>`. gunicorn, with
`--proxy-protocol` and the line coming from an allowed address, makes that address the
request's REMOTE_ADDR. `Circuit` sends the same line on each connection it opens, so a
test can be many clients from 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CIRCUIT_PREFIX = "fc00:dead:beef:4dad::"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str
    seconds: float

    def csrf(self) -> str:
        match = CSRF.search(self.text)
        assert match, f"no CSRF token in a {self.status} answer"
        return match.group(1)


class _ProxiedConnection(http.client.HTTPConnection):
    def __init__(self, port: int, circuit: int) -> None:
        super().__init__("127.0.0.1", port, timeout=60)
        self.circuit = circuit

    def connect(self) -> None:
        super().connect()
        line = f"PROXY TCP6 {CIRCUIT_PREFIX}{self.circuit:x} ::1 {self.circuit} 80\r\n"
        self.sock.sendall(line.encode("ascii"))


@dataclass
class Circuit:
    """One client: its circuit id, and the cookies it was given (like a browser tab)."""

    port: int
    circuit: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: Any = None,
    ) -> Answer:
        headers = {"Connection": "close"}
        payload: bytes | None = None
        if form is not None:
            payload = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = _ProxiedConnection(self.port, self.circuit)
        started = time.monotonic()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        seconds = time.monotonic() - started
        self._remember(response.headers.get_all("Set-Cookie") or [])
        return Answer(response.status, response.headers, text, seconds)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Answer:
        return self.request("POST", path, form=form)

    def post_json(self, path: str, body: Any) -> Answer:
        return self.request("POST", path, body=body)

    def forget(self) -> None:
        """A new identity: no cookies (a fresh session at the next request)."""
        self.cookies.clear()

    def _remember(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


def p95(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0
