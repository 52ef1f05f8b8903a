"""Pages viewed by someone not logged in leave nothing on the server: no Redis entry, no
row. Their session (CSRF token, language, a codename being shown) is a sealed cookie that
a visitor can neither read nor forge, so nobody can choose their own codename."""

from __future__ import annotations

import base64
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import journalist_app
import source_app
from composition.runtime import Runtime
from tests.integration.source_app.helpers import COOKIE, SourceBrowser
from tests.support.journalist import FAST_HASHER
from vault.models import AuditEvent, Source
from web_shared.sessions import RedisSessionInterface

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _rows(db: Session) -> tuple[int, int]:
    sources = db.scalar(select(func.count()).select_from(Source)) or 0
    events = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return int(sources), int(events)


def test_anonymous_source_pages_write_nothing(runtime: Runtime) -> None:
    client = source_app.create_app(runtime.config, runtime).test_client()
    before = runtime.redis.dbsize()
    for _ in range(20):  # a small flood of page views: still nothing
        for path in ("/", "/generate", "/login", "/language/fr?next=/generate", "/report"):
            assert client.get(path).status_code in (200, 302)
    assert runtime.redis.dbsize() == before
    with runtime.session() as db:
        assert _rows(db) == (0, 0)
    # The language chosen and the CSRF token live on in the browser's sealed cookie.
    page = client.get("/login")
    assert 'lang="fr"' in page.text and CSRF_RE.search(page.text)


def test_anonymous_reviewer_login_page_writes_nothing(runtime: Runtime) -> None:
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    client = app.test_client()
    before = runtime.redis.dbsize()
    for _ in range(20):
        assert client.get("/login").status_code == 200
        assert client.get("/").status_code == 302  # sent to the login page
    assert runtime.redis.dbsize() == before
    with runtime.session() as db:
        assert _rows(db) == (0, 0)


def test_a_visitor_cannot_choose_their_codename(runtime: Runtime) -> None:
    """The codename shown comes back only inside the sealed cookie: a cookie sealed with
    any other key, or altered by one bit, creates nothing."""
    app = source_app.create_app(runtime.config, runtime)
    browser = SourceBrowser(app.test_client())
    shown, token = browser.generate()
    genuine = browser.cookie()
    assert genuine is not None
    chosen = " ".join(["abacus"] * 7)
    foreign = RedisSessionInterface(
        runtime.redis, prefix="source-session", idle_seconds=600, pepper=b"guess" * 8
    )
    forged_data = {"codename": chosen, "csrf_token": "x"}
    forged = foreign.seal_anonymous(forged_data)
    flipped = genuine[:-3] + ("A" if genuine[-3] != "A" else "B") + genuine[-2:]
    for cookie in (forged, flipped):
        browser.client.set_cookie(COOKIE, cookie)
        response = browser.client.post("/create", data={"csrf_token": token})
        assert response.status_code == 400  # the session (and its CSRF token) is gone
    with runtime.session() as db:
        assert _rows(db)[0] == 0
    # The genuine cookie still creates the codename that was shown, and only that one.
    browser.client.set_cookie(COOKIE, genuine)
    created = browser.client.post("/create", data={"csrf_token": token})
    assert created.headers["Location"] == "/lookup"
    assert browser.submit("first message").status_code == 302  # records the source
    browser.logout()
    assert browser.login(shown).headers["Location"] == "/lookup"


def test_the_sealed_cookie_holds_nothing_readable(runtime: Runtime) -> None:
    browser = SourceBrowser(source_app.create_app(runtime.config, runtime).test_client())
    shown, _token = browser.generate()
    cookie = browser.cookie()
    assert cookie is not None and cookie.startswith("a.")
    words = shown.split()
    assert not any(word in cookie for word in words)
    raw = cookie[2:] + "=" * (-len(cookie[2:]) % 4)
    decoded = base64.urlsafe_b64decode(raw)
    assert not any(word.encode() in decoded for word in words)
    assert b"csrf" not in decoded and b"codename" not in decoded
