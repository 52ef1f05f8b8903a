"""Requests the serving layer refuses before the app sees them (gunicorn's own 400,
414, 431): on the API they are answered in the API's JSON error shape, with the
security headers, as any other API error; elsewhere with the neutral plain text.

The first case is one schemathesis generates now and then (test_api_openapi.py): a
negative-mode `Range` header holding a control character, which gunicorn refuses."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.integration.api.conftest import Server
from tests.support.slow_client import Answer, raw_request
from web_shared.security import SECURITY_HEADERS
from web_shared.serving import POLICY

_UUID = "3f2b7c1e-8a4d-4c6b-9e2f-1a2b3c4d5e6f"
_DOWNLOAD = f"/api/v1/sources/{_UUID}/submissions/{_UUID}/download"


def _send(server: Server, head: bytes) -> Answer:
    port = urlsplit(server.url).port
    assert port is not None
    return raw_request("127.0.0.1", port, head)


def _assert_secured(answer: Answer) -> None:
    for name, value in SECURITY_HEADERS:
        assert answer.headers.get(name.lower()) == value, name
    assert b"gunicorn" not in answer.body.lower()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("what", "head", "status"),
    [
        (
            "control character in a header value",
            f"GET {_DOWNLOAD} HTTP/1.1\r\nHost: x\r\nRange: bytes=\x01-2\r\n\r\n".encode(),
            400,
        ),
        (
            # A Range value schemathesis generates in negative mode (latin-1 on the wire).
            "generated Range value",
            f"GET {_DOWNLOAD} HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Range: \x06\xe8\xde\xf5\xf8_+]\xc4w\r\n\r\n",
            400,
        ),
        (
            "invalid header name",
            b"GET /api/v1/sources HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
            400,
        ),
        (
            "head too large",
            b"GET /api/v1/user HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(POLICY.limit_request_fields + 5))
            + b"\r\n",
            431,
        ),
    ],
)
def test_refusals_on_the_api_are_json(server: Server, what: str, head: bytes, status: int) -> None:
    answer = _send(server, head)
    assert answer.status == status, (what, answer)
    _assert_secured(answer)
    assert answer.headers.get("content-type") == "application/json", what
    body = json.loads(answer.body)
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    # Nothing of the request is echoed back.
    assert "bytes" not in answer.body.decode() and "Bad" not in body["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "head",
    [
        # Not the API: the neutral plain text stays.
        b"GET /login HTTP/1.1\r\nHost: x\r\nRange: bytes=\x01-2\r\n\r\n",
        # Only the path counts, not a look-alike.
        b"GET /apiv1 HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        # The request line could not be read: no path to go by.
        b"GET /api/v1/\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_other_refusals_stay_plain_text(server: Server, head: bytes) -> None:
    answer = _send(server, head)
    assert answer.status == 400, answer
    _assert_secured(answer)
    assert answer.headers.get("content-type") == "text/plain; charset=utf-8"
    assert answer.body == b"400 Bad Request\n"
