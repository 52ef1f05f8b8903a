"""The source interface's security invariants: headers on every page, tor2web refused,
no script and no other origin, a quick exit everywhere, sessions that hold nothing
readable (anonymous: a sealed cookie and nothing on the server; logged in: cookie = random
token, Redis = ciphertext), and logout that really ends them."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import source_app
from composition.runtime import Runtime
from tests.integration.source_app.helpers import (
    COOKIE,
    SourceBrowser,
    every_page_responses,
    session_keys,
    stored_files,
    submission_count,
)
from tests.support.leaks import assert_no_leak

TEMPLATES = Path(source_app.__file__).parent / "templates"
STATIC = Path(source_app.__file__).parent / "static"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
SEALED_RE = re.compile(r"^a\.[A-Za-z0-9_-]+$")


def _assert_headers(response: TestResponse) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # nothing loosens default-src for scripts
    assert "no-store" in headers["Cache-Control"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert headers["Server"] == "BackUp"


@pytest.fixture
def every_page(browser: SourceBrowser, make_app: Callable[..., Flask]) -> dict[str, TestResponse]:
    return every_page_responses(browser, make_app)


class TestHeaders:
    """Strict headers on every response, errors and static files included."""

    def test_every_page(self, every_page: dict[str, TestResponse]) -> None:
        expected = {
            "bad codename": 400,
            "wrong codename": 403,
            "404": 404,
            "405": 405,
            "csrf 400": 400,
            "tor2web 403": 403,
            "429": 429,
            "413": 413,
            "empty submission 400": 400,
            "submitted": 302,
        }
        for name, response in every_page.items():
            assert response.status_code == expected.get(name, 200), name
            _assert_headers(response)

    def test_method_not_allowed_says_what_is(self, client: FlaskClient) -> None:
        response = client.get("/create")
        assert response.headers["Allow"] == "OPTIONS, POST"

    def test_throttled_says_when_to_retry(self, every_page: dict[str, TestResponse]) -> None:
        assert every_page["429"].headers["Retry-After"] == "60"


class TestPages:
    """What the pages contain: a quick exit, no script, nothing from another origin."""

    def test_quick_exit_everywhere(self, every_page: dict[str, TestResponse]) -> None:
        for name, response in every_page.items():
            if name in ("exit", "static", "submitted"):
                continue
            assert re.search(r'<a class="exit" href="/exit" rel="noreferrer"', response.text), name
            # First link of the page: reachable at once, by keyboard too.
            assert response.text.index('href="/exit"') < response.text.index("<main>"), name

    def test_exit_page_names_nothing(self, every_page: dict[str, TestResponse]) -> None:
        text = every_page["exit"].text
        assert "BackUp" not in text
        assert "<a " not in text
        assert "stylesheet" not in text
        assert "Page not found" in text

    def test_no_script_no_other_origin_in_pages(self, every_page: dict[str, TestResponse]) -> None:
        for name, response in every_page.items():
            html = response.text.lower()
            assert "<script" not in html, name
            assert "javascript:" not in html, name
            assert not re.search(r"\son[a-z]+\s*=", html), name  # inline event handlers
            assert "style=" not in html, name  # inline styles: the CSP would block them
            assert not re.search(r"(?:https?:)?//", html.replace("<!doctype html>", "")), name
            assert "@import" not in html, name

    def test_templates_and_static(self) -> None:
        files = [*TEMPLATES.glob("*.html"), *STATIC.iterdir()]
        assert files
        for path in files:
            text = path.read_text().lower()
            assert "<script" not in text, path.name
            assert "javascript:" not in text, path.name
            assert not re.search(r"\son[a-z]+\s*=", text), path.name
            assert "style=" not in text, path.name
            assert not re.search(r"(?:https?:)?//", text), path.name
            assert "url(" not in text, path.name  # CSS pulls nothing in
        assert [p.name for p in STATIC.iterdir()] == ["style.css"]
        assert (STATIC / "style.css").stat().st_size < 4096

    def test_stylesheet_inline_under_its_hash(self, every_page: dict[str, TestResponse]) -> None:
        """Each page carries the stylesheet itself (one request over Tor, nothing cached)
        and its CSP allows exactly that text: no 'unsafe-inline', no other stylesheet."""
        css = (STATIC / "style.css").read_text()
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        for name, response in every_page.items():
            csp = response.headers["Content-Security-Policy"]
            assert f"style-src 'sha256-{digest}';" in csp, name
            assert "unsafe" not in csp and "'self'" not in csp.split("style-src")[1].split(";")[0]
            assert "no-store" in response.headers["Cache-Control"], name
            if response.mimetype == "text/html" and "<head>" in response.text:
                assert 'rel="stylesheet"' not in response.text, name
                if name != "exit":
                    styles = re.findall(r"<style>(.*?)</style>", response.text, re.S)
                    assert styles == [css], name

    def test_pages_are_tiny(self, every_page: dict[str, TestResponse]) -> None:
        for name, response in every_page.items():
            assert len(response.data) < 6000, name


class TestTor2web:
    def test_refused_everywhere(self, client: FlaskClient) -> None:
        for header in ("X-tor2web", "X-Tor2web"):
            response = client.get("/login", headers={header: "1"})
            assert response.status_code == 403
            assert "Please use Tor Browser" in response.text
            assert "csrf_token" not in response.text

    def test_refused_before_the_body_is_read(
        self, logged_in: SourceBrowser, runtime: Runtime
    ) -> None:
        token = logged_in.token()
        response = logged_in.client.post(
            "/submit",
            data={"csrf_token": token, "msg": "m", "fh": [(io.BytesIO(b"d"), "a")]},
            content_type="multipart/form-data",
            headers={"X-tor2web": "1"},
        )
        assert response.status_code == 403
        assert stored_files(runtime) == []
        assert submission_count(runtime) == 0


class TestSessions:
    """Anonymous: a sealed cookie, nothing in Redis. Logged in: cookie = one random token,
    Redis = ciphertext. Login rotates; logout wipes."""

    def test_cookie_and_redis_hold_nothing_readable(
        self, browser: SourceBrowser, runtime: Runtime
    ) -> None:
        codename, token = browser.generate()
        anonymous = browser.cookie()
        # Between "I am new" and creation the codename is in the sealed cookie only: not in
        # Redis, and in no form in the cookie. Its first two words stand for any part of it
        # (one word may be too short to search for without chance matches).
        assert anonymous is not None and SEALED_RE.match(anonymous)
        assert session_keys(runtime) == []
        assert_no_leak(
            (codename, " ".join(codename.split()[:2])),
            redis=runtime.redis,
            blobs={"anonymous cookie": anonymous.encode()},
        )

        browser.client.post("/create", data={"csrf_token": token})
        token_after = browser.cookie()
        assert token_after is not None and TOKEN_RE.match(token_after)
        assert len(session_keys(runtime)) == 1  # the first server-side entry: at login

        message = "the camp near the river, tuesday"
        browser.submit(message)
        # Every key of every type, in every form; not even the session's field names.
        assert_no_leak((codename, message, "reply_passphrase", "source_uuid"), redis=runtime.redis)
        cookie = browser.client.get_cookie(COOKIE)
        assert cookie is not None
        assert cookie.http_only
        assert cookie.same_site == "Strict"
        assert cookie.path == "/"
        assert cookie.secure is False  # this config has secure_cookies off

    def test_login_rotates_the_token(self, browser: SourceBrowser, runtime: Runtime) -> None:
        codename = browser.start()
        browser.logout()
        browser.client.get("/login")
        before = browser.cookie()
        assert browser.login(codename).status_code == 302
        after = browser.cookie()
        assert before and after and before != after
        assert len(session_keys(runtime)) == 1

    def test_logout_deletes_the_redis_key(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        [key] = session_keys(runtime)
        stolen = logged_in.cookie()
        logged_in.logout()
        assert runtime.redis.exists(key) == 0
        assert session_keys(runtime) == []
        assert logged_in.cookie() is None
        # A copy of the old cookie opens nothing.
        assert stolen
        logged_in.client.set_cookie(COOKIE, stolen)
        assert logged_in.client.get("/lookup").headers["Location"] == "/login"

    def test_quick_exit_ends_the_session(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        response = logged_in.client.get("/exit")
        assert response.status_code == 200
        assert session_keys(runtime) == []
        assert logged_in.cookie() is None
        # Back button: pages are no-store, so the browser asks again and gets nothing.
        assert logged_in.client.get("/lookup").headers["Location"] == "/login"

    def test_exit_forgets_a_codename_being_shown(
        self, browser: SourceBrowser, runtime: Runtime
    ) -> None:
        _, token = browser.generate()
        browser.client.get("/exit")
        assert session_keys(runtime) == []
        assert browser.client.post("/create", data={"csrf_token": token}).status_code == 400

    def test_secure_cookie_when_configured(self, make_app: Callable[..., Flask]) -> None:
        client = make_app(secure_cookies=True).test_client()
        client.get("/login", base_url="https://example.onion")
        cookie = client.get_cookie(COOKIE, domain="example.onion")
        assert cookie is not None
        assert cookie.secure

    def test_sessions_expire_when_idle(self, logged_in: SourceBrowser, runtime: Runtime) -> None:
        [key] = session_keys(runtime)
        ttl = int(runtime.redis.ttl(key))
        assert 0 < ttl <= runtime.config.session_idle_seconds
