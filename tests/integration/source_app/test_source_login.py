"""Logging in with a codename: malformed, unknown, deleted, throttled.

Nothing in an answer may tell whether a codename exists: an unknown codename and a
deleted source get the same page, and once throttled, an existing codename gets the
very same 429 page as one that never existed.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from tests.integration.source_app.helpers import (
    SourceBrowser,
    csrf_token,
    session_keys,
    without_csrf,
)
from vault import codenames
from vault.config import Throttle
from vault.models import Source
from vault.runtime import Runtime

QUICK_EXIT = 'href="/exit"'


def _headers(response: TestResponse) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.items() if k != "Set-Cookie"]


class TestAnswers:
    """Each kind of wrong codename has one clear answer."""

    def test_malformed_codename(self, browser: SourceBrowser, runtime: Runtime) -> None:
        for typed in ("", "hello", "seven words but not from the list at all", "a" * 300):
            response = browser.login(typed)
            assert response.status_code == 400, typed
            assert "This is not a codename." in response.text
            assert "7 or more words" in response.text
            assert QUICK_EXIT in response.text
        # Malformed input costs no derivation and counts no attempt.
        assert not list(runtime.redis.scan_iter(match="throttle:*"))

    def test_unknown_and_deleted_codenames_look_the_same(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        deleted = SourceBrowser(make_app().test_client())
        deleted_codename = deleted.create()
        with runtime.session_factory() as db:
            source = db.scalars(select(Source)).one()
            source.deleted_at = source.created_at
            db.commit()

        visitor = SourceBrowser(make_app().test_client())
        unknown = visitor.login(codenames.generate_codename())
        gone = visitor.login(deleted_codename)
        assert unknown.status_code == gone.status_code == 403
        assert "This codename was not recognised." in unknown.text
        assert without_csrf(unknown.text) == without_csrf(gone.text)
        assert unknown.headers.get("Location") is None

    def test_failed_login_creates_no_logged_in_session(
        self, browser: SourceBrowser, runtime: Runtime
    ) -> None:
        browser.login(codenames.generate_codename())
        assert browser.client.get("/lookup").headers["Location"] == "/login"
        assert session_keys(runtime) == []  # the anonymous session is a sealed cookie


class TestThrottle:
    """Attempts are counted per codename and for the whole service."""

    def test_per_codename(self, make_app: Callable[..., Flask], runtime: Runtime) -> None:
        browser = SourceBrowser(
            make_app(
                source_throttle=Throttle(per_key=3, globally=100, window_seconds=300)
            ).test_client()
        )
        guess = codenames.generate_codename()
        for _ in range(3):
            assert browser.login(guess).status_code == 403
        throttled = browser.login(guess)
        assert throttled.status_code == 429
        assert "Too many attempts" in throttled.text
        assert "wait 5 minutes" in throttled.text
        assert throttled.headers["Retry-After"] == "300"
        assert QUICK_EXIT in throttled.text
        # Another codename is still allowed.
        assert browser.login(codenames.generate_codename()).status_code == 403

    def test_existing_and_unknown_codenames_get_the_same_page(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        limits = Throttle(per_key=10, globally=3, window_seconds=120)
        source = SourceBrowser(make_app(source_throttle=limits).test_client())
        codename = source.create()
        source.logout()

        attacker = SourceBrowser(make_app(source_throttle=limits).test_client())
        for _ in range(3):
            assert attacker.login(codenames.generate_codename()).status_code == 403
        unknown = attacker.login(codenames.generate_codename())
        existing = source.login(codename)  # correct, but the service is throttled
        assert unknown.status_code == existing.status_code == 429
        assert unknown.data == existing.data
        # Headers too, apart from each visitor's own session cookie.
        assert _headers(unknown) == _headers(existing)
        assert existing.headers["Retry-After"] == "120"
        assert existing.headers.get("Location") is None
        assert source.client.get("/lookup").headers["Location"] == "/login"

    def test_success_resets_the_codename_count(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        app = make_app(source_throttle=Throttle(per_key=2, globally=100, window_seconds=300))
        browser = SourceBrowser(app.test_client())
        codename = browser.create()
        browser.logout()
        for _ in range(3):  # more logins than the per-codename budget, all successful
            assert browser.login(codename).status_code == 302
            browser.logout()


class TestCreationLimit:
    """New codenames are bounded for the whole service (each costs a key generation)."""

    def test_limit_then_429_and_codename_kept(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        app = make_app(source_creation_throttle=Throttle(per_key=2, globally=2, window_seconds=600))
        for _ in range(2):
            SourceBrowser(app.test_client()).create()
        late = SourceBrowser(app.test_client())
        codename, token = late.generate()
        response = late.client.post("/create", data={"csrf_token": token})
        assert response.status_code == 429
        assert QUICK_EXIT in response.text
        with runtime.session_factory() as db:
            assert db.scalar(select(func.count()).select_from(Source)) == 2
        # Once the window has passed, the same codename is created.
        runtime.redis.delete(*runtime.redis.keys("throttle:source-create:*"))
        token = csrf_token(late.client.get("/login").text)
        response = late.client.post("/create", data={"csrf_token": token})
        assert response.status_code == 302
        late.logout()
        login = late.login(codename)
        assert login.status_code == 302
        assert login.headers["Location"] == "/lookup"
