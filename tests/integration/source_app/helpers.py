"""Helpers for the source interface's tests: a browser-like client that reads the CSRF
token from each page (as Tor Browser with JavaScript off would), and store/DB probes."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from composition.runtime import Runtime
from vault.config import Budget
from vault.models import Submission

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CODENAME_RE = re.compile(r'<p class="codename">([a-z\- ]+)</p>')
COOKIE = "src"
SESSION_PREFIX = "source-session:"


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def without_csrf(html: str) -> str:
    """A page with its (per-request, time-stamped) CSRF tokens blanked, for comparisons."""
    return CSRF_RE.sub('name="csrf_token" value=""', html)


def stored_files(runtime: Runtime) -> list[Path]:
    """Every file under the store: sealed, partial or otherwise."""
    return sorted(p for p in runtime.store.root.rglob("*") if p.is_file())


def submission_count(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Submission)) or 0)


def session_keys(runtime: Runtime) -> list[bytes]:
    return list(runtime.redis.scan_iter(match=f"{SESSION_PREFIX}*"))


def gzip_name(data: bytes) -> str:
    """The original file name a gzip member carries in its header (FNAME, UTF-8 here)."""
    assert data[:2] == b"\x1f\x8b"
    flags = data[3]
    position = 10
    if flags & 0x04:  # FEXTRA
        position += 2 + int.from_bytes(data[10:12], "little")
    assert flags & 0x08, "no FNAME in the gzip header"
    end = data.index(b"\0", position)
    return data[position:end].decode("utf-8")


def gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        return handle.read()


FileSpec = tuple[bytes, str]


class SourceBrowser:
    """What a source does, through the test client, page by page."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def token(self, path: str = "/lookup") -> str:
        response = self.client.get(path)
        assert response.status_code == 200, response.status
        return csrf_token(response.text)

    def cookie(self) -> str | None:
        cookie = self.client.get_cookie(COOKIE)
        return cookie.value if cookie is not None else None

    def generate(self) -> tuple[str, str]:
        """Open "I am new": the codename shown, and the page's CSRF token."""
        response = self.client.get("/generate")
        assert response.status_code == 200
        match = CODENAME_RE.search(response.text)
        assert match, "no codename on the page"
        return match.group(1), csrf_token(response.text)

    def create(self) -> str:
        codename, token = self.generate()
        response = self.client.post("/create", data={"csrf_token": token})
        assert response.status_code == 302
        assert response.headers["Location"] == "/lookup"
        return codename

    def start(self, message: str = "first message") -> str:
        """Create a codename and send something: the source is recorded from then on."""
        codename = self.create()
        response = self.submit(message)
        assert response.status_code == 302, response.status
        return codename

    def login(self, codename: str) -> TestResponse:
        return self.client.post(
            "/login", data={"csrf_token": self.token("/login"), "codename": codename}
        )

    def submit(
        self,
        message: str = "",
        files: Iterable[FileSpec] = (),
        *,
        token: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> TestResponse:
        data: dict[str, Any] = {
            "csrf_token": self.token() if token is None else token,
            "msg": message,
            "fh": [(io.BytesIO(content), name) for content, name in files],
        }
        if token == "":
            del data["csrf_token"]
        data.update(extra or {})
        return self.client.post("/submit", data=data, content_type="multipart/form-data")

    def logout(self) -> TestResponse:
        return self.client.post("/logout", data={"csrf_token": self.token()})


def every_page_responses(
    browser: SourceBrowser, make_app: Callable[..., Flask]
) -> dict[str, TestResponse]:
    """One response of each kind the interface can give, anonymous and logged in."""
    client = browser.client
    pages = {
        "landing": client.get("/"),
        "login": client.get("/login"),
        "bad codename": browser.login("not a codename"),
        "wrong codename": browser.login(" ".join(["abacus"] * 7)),
        "generate": client.get("/generate"),
        "404": client.get("/nowhere"),
        "405": client.get("/create"),
        "csrf 400": client.post("/login", data={"codename": "x"}),
        "tor2web 403": client.get("/", headers={"X-tor2web": "encrypted"}),
        "static": client.get("/static/style.css"),
    }
    throttled = SourceBrowser(
        make_app(source_login_budget=Budget(burst=1, interval_seconds=60)).test_client()
    )
    throttled.client.environ_base["REMOTE_ADDR"] = "fc00:dead:beef:4dad::429"  # its own budget
    throttled.login(" ".join(["abacus"] * 7))
    pages["429"] = throttled.login(" ".join(["zoom"] * 7))
    tiny = SourceBrowser(make_app(max_upload_bytes=1000).test_client())
    tiny.create()
    pages["413"] = tiny.submit("m", [(b"x" * 2000, "a.bin")])

    browser.create()
    pages["lookup"] = client.get("/lookup")
    pages["empty submission 400"] = browser.submit("")
    pages["submitted"] = browser.submit("hello")
    pages["logged out"] = browser.logout()
    pages["exit"] = client.get("/exit")
    return pages
