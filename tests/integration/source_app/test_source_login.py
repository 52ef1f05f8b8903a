"""Logging in with a codename, and starting one: malformed, unknown, deleted, budgeted.

Nothing in an answer may tell whether a codename exists: an unknown codename and a
deleted source get the same page, and a client over its budget gets the very same 429
page for an existing codename as for one that never existed. Budgets are per client
(REMOTE_ADDR: over Tor, one circuit): one client's flood never locks anyone else out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from composition.runtime import Runtime
from tests.integration.source_app.helpers import (
    SourceBrowser,
    csrf_token,
    session_keys,
    without_csrf,
)
from vault import codenames
from vault.config import Budget, ScryptParams
from vault.models import Source

QUICK_EXIT = 'href="/exit"'
ATTACKER = "fc00:dead:beef:4dad::6"
SOURCE = "fc00:dead:beef:4dad::7"


def _headers(response: TestResponse) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.items() if k not in ("Set-Cookie", "Retry-After")]


def _browser(app: Flask, address: str) -> SourceBrowser:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return SourceBrowser(client)


def _sources(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Source)) or 0)


def _secret_keys(runtime: Runtime) -> int:
    """Reply keys' secret halves: kept in the database (vault.services.reply_keys), and
    in no home (key files hold public halves only, keys/keyfiles.py)."""
    keyring = runtime.keyring
    assert not any(keyring.has_secret_key(f) for f in keyring.public_fingerprints())
    with runtime.session() as db:
        return int(
            db.scalar(
                select(func.count()).select_from(Source).where(Source.reply_secret_key.is_not(None))
            )
            or 0
        )


def _recorded_source(browser: SourceBrowser) -> str:
    """A source that has sent something (so is recorded), then logged out."""
    codename = browser.create()
    assert browser.submit("first message").status_code == 302
    browser.logout()
    return codename


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every scrypt derivation the app runs (the real one, counted)."""
    calls: list[bytes] = []
    real = codenames.derive

    def counting(codename: str, pepper: bytes, params: ScryptParams) -> bytes:
        calls.append(pepper)
        return real(codename, pepper, params)

    monkeypatch.setattr(codenames, "derive", counting)
    return calls


class TestAnswers:
    """Each kind of wrong codename has one clear answer."""

    def test_malformed_codename(self, browser: SourceBrowser, runtime: Runtime) -> None:
        for typed in ("", "hello", "seven words but not from the list at all", "a" * 300):
            response = browser.login(typed)
            assert response.status_code == 400, typed
            assert "This is not a codename." in response.text
            assert "7 or more words" in response.text
            assert QUICK_EXIT in response.text
        # Malformed input costs no derivation and spends no budget.
        assert not list(runtime.redis.scan_iter(match="throttle:*"))

    def test_unknown_and_deleted_codenames_look_the_same(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        deleted_codename = _recorded_source(SourceBrowser(make_app().test_client()))
        with runtime.session() as db:
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


class TestLoginBudget:
    """Attempts are budgeted per client, never per codename nor for the whole service."""

    def test_over_budget_client_gets_429_with_its_own_wait(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        app = make_app(source_login_budget=Budget(burst=3, interval_seconds=120))
        attacker = _browser(app, ATTACKER)
        for _ in range(3):
            assert attacker.login(codenames.generate_codename()).status_code == 403
        throttled = attacker.login(codenames.generate_codename())
        assert throttled.status_code == 429
        assert "Too many attempts" in throttled.text
        assert "wait 2 minutes" in throttled.text
        assert 115 <= int(throttled.headers["Retry-After"]) <= 120
        assert QUICK_EXIT in throttled.text

    def test_a_flood_from_one_client_does_not_lock_the_real_source_out(
        self, make_app: Callable[..., Flask], runtime: Runtime, derivations: list[bytes]
    ) -> None:
        app = make_app(source_login_budget=Budget(burst=3, interval_seconds=300))
        source = _browser(app, SOURCE)
        codename = _recorded_source(source)

        attacker = _browser(app, ATTACKER)
        token = csrf_token(attacker.client.get("/login").text)
        derivations.clear()
        answers = [
            attacker.client.post(
                "/login", data={"csrf_token": token, "codename": codenames.generate_codename()}
            ).status_code
            for _ in range(200)
        ]
        assert answers[:3] == [403] * 3
        assert set(answers[3:]) == {429}
        # The 197 refused attempts ran no scrypt at all: only the 3 allowed ones did.
        assert derivations == [runtime.config.secrets.for_source().lookup_pepper] * 3

        login = source.login(codename)  # at once, from the source's own circuit
        assert login.status_code == 302
        assert login.headers["Location"] == "/lookup"
        assert "Replies from our team" in source.client.get("/lookup").text

    def test_existing_and_unknown_codenames_get_the_same_page(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        """Over its budget, a client learns nothing, not even with a real codename."""
        app = make_app(source_login_budget=Budget(burst=2, interval_seconds=120))
        codename = _recorded_source(_browser(app, SOURCE))
        attacker = _browser(app, ATTACKER)
        for _ in range(2):
            assert attacker.login(codenames.generate_codename()).status_code == 403
        unknown = attacker.login(codenames.generate_codename())
        existing = attacker.login(codename)
        assert unknown.status_code == existing.status_code == 429
        assert unknown.data == existing.data
        # Headers too, apart from each visitor's own cookie and its (ticking) wait.
        assert _headers(unknown) == _headers(existing)
        assert "Retry-After" in unknown.headers and "Retry-After" in existing.headers
        assert existing.headers.get("Location") is None
        assert attacker.client.get("/lookup").headers["Location"] == "/login"

    def test_a_source_logs_in_again_and_again(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        app = make_app(source_login_budget=Budget(burst=3, interval_seconds=300))
        browser = _browser(app, SOURCE)
        codename = _recorded_source(browser)
        for _ in range(3):
            assert browser.login(codename).status_code == 302
            browser.logout()


class TestNewCodenames:
    """A codename records nothing until it sends something; creation is budgeted per
    client, and a refused creation keeps the codename shown."""

    def test_creation_records_nothing_until_the_first_submission(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        keys = _secret_keys(runtime)
        browser = _browser(make_app(), SOURCE)
        codename = browser.create()
        lookup = browser.client.get("/lookup")
        assert lookup.status_code == 200
        assert "Your codename starts to work once you have sent something" in lookup.text
        assert browser.client.get("/receipts").status_code == 200
        assert _sources(runtime) == 0 and _secret_keys(runtime) == keys

        assert browser.submit("hello").status_code == 302
        assert _sources(runtime) == 1 and _secret_keys(runtime) == keys + 1
        assert "starts to work" not in browser.client.get("/lookup").text
        assert browser.submit("again").status_code == 302
        assert _sources(runtime) == 1 and _secret_keys(runtime) == keys + 1
        browser.logout()
        assert browser.login(codename).status_code == 302

    def test_a_codename_that_sent_nothing_does_not_log_in(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        browser = _browser(make_app(), SOURCE)
        codename = browser.create()
        browser.logout()
        assert browser.login(codename).status_code == 403

    def test_per_client_creation_budget(
        self, make_app: Callable[..., Flask], runtime: Runtime
    ) -> None:
        app = make_app(source_create_budget=Budget(burst=2, interval_seconds=1))
        attacker = _browser(app, ATTACKER)
        for _ in range(2):
            attacker.create()
            attacker.logout()
        codename, token = attacker.generate()
        refused = attacker.client.post("/create", data={"csrf_token": token})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert QUICK_EXIT in refused.text

        # A newcomer on another circuit starts at once, and sends.
        newcomer = _browser(app, SOURCE)
        newcomer.create()
        assert newcomer.submit("I need help").status_code == 302

        # The refused client keeps the codename it was shown, and gets it once it waited.
        time.sleep(1.1)
        token = csrf_token(attacker.client.get("/login").text)
        assert attacker.client.post("/create", data={"csrf_token": token}).status_code == 302
        assert attacker.submit("now").status_code == 302
        attacker.logout()
        login = attacker.login(codename)
        assert login.status_code == 302
        assert login.headers["Location"] == "/lookup"
        assert _sources(runtime) == 2  # the newcomer and the one that sent: nothing else
