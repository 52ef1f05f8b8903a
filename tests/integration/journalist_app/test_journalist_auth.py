"""Login with passphrase + TOTP, per-client budgets, CSRF, sessions in Redis, the login gate."""

from __future__ import annotations

from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from journalist_app import create_app
from tests.support.journalist import (
    Account,
    csrf_token,
    login,
    make_source,
    post_form,
    session_keys,
)
from vault.models import AuditEvent, Reviewer
from vault.services import reviewers

ATTACKER = "fc00:dead:beef:4dad::66"
REVIEWER = "fc00:dead:beef:4dad::77"
LOGIN_FAILED = "Login failed. Check your username, passphrase and code."
TOO_MANY = "Too many attempts. Wait a few minutes and try again."


class CountingHasher(PasswordHasher):
    """A fast argon2id hasher that counts verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


def _cookie(client: FlaskClient, app: Flask) -> str | None:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie else None


def _actions(runtime: Runtime) -> list[str]:
    with runtime.session() as db:
        return [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_login_with_passphrase_and_totp(
    app: Flask, client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    """Right credentials: redirect to the dashboard, a new session id, an audited login."""
    csrf_token(client)
    before = _cookie(client, app)
    assert before is not None
    response = login(client, analyst)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    after = _cookie(client, app)
    assert after is not None and after != before  # regenerated at login
    assert len(session_keys(runtime)) == 1  # the first Redis entry: the pre-login one
    # was a sealed cookie
    page = client.get("/")
    assert page.status_code == 200 and "Sources" in page.get_data(as_text=True)
    assert "login" in _actions(runtime)
    with runtime.session() as db:
        row = db.scalar(select(Reviewer).where(Reviewer.uuid == analyst.uuid))
        assert row is not None and row.last_login_at is not None and row.last_totp_step > 0


def test_wrong_passphrase_wrong_code_unknown_user_same_answer(
    client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    """Every failure gives the same 401 page; nobody is logged in."""
    attempts = [
        {"passphrase": analyst.passphrase + "x"},
        {"code": f"{(int(analyst.code()) + 1) % 1_000_000:06d}"},
        {"username": "nobody-here"},
        {"username": "nobody-here", "passphrase": "whatever"},
    ]
    for attempt in attempts:
        response = login(client, analyst, **attempt)
        assert response.status_code == 401
        assert LOGIN_FAILED in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert _actions(runtime).count("login_failed") == 4


def test_replayed_code_refused(client: FlaskClient, runtime: Runtime, analyst: Account) -> None:
    """A code that logged in once cannot log in again, even after logout."""
    code = analyst.code()
    assert login(client, analyst, code=code).status_code == 302
    assert post_form(client, "/logout").status_code == 302
    response = login(client, analyst, code=code)
    assert response.status_code == 401
    assert "This code was already used" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    # The next step's code is fine.
    assert login(client, analyst, code=analyst.code(1)).status_code == 302


def _client_at(app: Flask, address: str) -> FlaskClient:
    """A browser on its own Tor circuit (production: REMOTE_ADDR from PROXY protocol)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_a_flood_locks_neither_the_account_nor_anyone_else(
    app: Flask, runtime: Runtime, analyst: Account
) -> None:
    """Failures spend the failing client's budget only: it then waits, even with the
    right credentials, while the real reviewer logs in at once from elsewhere."""
    burst = runtime.config.reviewer_login_budget.burst
    attacker = _client_at(app, ATTACKER)
    for i in range(burst):  # the real username and made-up ones spend one budget
        username = analyst.username if i % 2 else f"ghost{i}"
        assert login(attacker, analyst, username=username, passphrase="wrong").status_code == 401
    for attempt in ({}, {"username": "ghost"}):
        refused = login(attacker, analyst, **attempt)
        assert refused.status_code == 429 and TOO_MANY in refused.get_data(as_text=True)
        assert 0 < int(refused.headers["Retry-After"]) <= 30
    assert attacker.get("/").status_code == 302

    reviewer = _client_at(app, REVIEWER)
    assert login(reviewer, analyst).status_code == 302
    assert reviewer.get("/").status_code == 200


def test_refused_attempts_run_no_argon2(runtime: Runtime, analyst: Account) -> None:
    """Counted on the real path: only the attempts within the budget verify a hash."""
    counting = CountingHasher()
    app = create_app(runtime.config, runtime, hasher=counting)
    attacker = _client_at(app, ATTACKER)
    token = csrf_token(attacker)
    codes = [
        attacker.post(
            "/login",
            data={
                "csrf_token": token,
                "username": analyst.username if i % 2 else f"user{i}",
                "passphrase": "wrong horse battery",
                "code": "123456",
            },
        ).status_code
        for i in range(150)
    ]
    burst = runtime.config.reviewer_login_budget.burst
    assert codes == [401] * burst + [429] * (150 - burst)
    assert counting.verifications == burst
    assert _actions(runtime).count("login_failed") == burst  # refusals write nothing


def test_csrf_missing_is_400(client: FlaskClient, runtime: Runtime, analyst: Account) -> None:
    """POSTs without a token are refused with a neutral 400, logged in or not."""
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": analyst.username, "passphrase": analyst.passphrase, "code": "1"},
    )
    assert response.status_code == 400
    assert "The request could not be understood" in response.get_data(as_text=True)
    assert login(client, analyst).status_code == 302
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/").status_code == 200  # still logged in


def test_logout_deletes_the_redis_session(
    app: Flask, client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    """Logout removes the session from Redis and the cookie from the browser."""
    assert login(client, analyst).status_code == 302
    client.get("/")
    keys = session_keys(runtime)
    assert len(keys) == 1
    response = post_form(client, "/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not keys & session_keys(runtime)
    assert _cookie(client, app) is None
    assert "logout" in _actions(runtime)
    assert client.get("/").status_code == 302


def test_deactivated_reviewer_session_dropped_and_login_refused(
    app: Flask, runtime: Runtime, analyst: Account
) -> None:
    """Deactivation ends a live session at its next request and blocks new logins."""
    client = app.test_client()
    assert login(client, analyst).status_code == 302
    assert client.get("/").status_code == 200
    keys = session_keys(runtime)
    assert len(keys) == 1
    with runtime.session() as db:
        row = db.scalar(select(Reviewer).where(Reviewer.uuid == analyst.uuid))
        assert row is not None
        reviewers.set_active(db, None, row, False)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not keys & session_keys(runtime)  # the Redis entry is gone
    assert _cookie(client, app) is None
    refused = login(app.test_client(), analyst, code=analyst.code(1))
    assert refused.status_code == 401


def test_credential_reset_ends_sessions(app: Flask, runtime: Runtime, analyst: Account) -> None:
    """A passphrase reset logs the reviewer out everywhere."""
    client = app.test_client()
    assert login(client, analyst).status_code == 302
    keys = session_keys(runtime)
    with runtime.session() as db:
        row = db.scalar(select(Reviewer).where(Reviewer.uuid == analyst.uuid))
        assert row is not None
        reviewers.reset_passphrase(db, None, row)
    assert client.get("/").status_code == 302
    assert keys and not keys & session_keys(runtime)


def test_login_required_by_default(client: FlaskClient) -> None:
    """Every page but login and static files sends anonymous visitors to the login."""
    for path in (
        "/",
        "/admin/",
        "/admin/reviewers/new",
        "/sources/00000000-0000-0000-0000-000000000000",
        "/no-such-page",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/login", path
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/login").status_code == 200


def test_security_headers_and_tor2web(client: FlaskClient) -> None:
    """Strict headers on every answer; tor2web requests are refused."""
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "img-src 'self' data:" in csp
    assert response.headers["Cache-Control"].startswith("no-store")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/login", headers={"X-tor2web": "1"}).status_code == 403
    assert "<script" not in response.get_data(as_text=True)


def test_neutral_error_page(client: FlaskClient, analyst: Account) -> None:
    """Unknown pages give a translated, neutral 404 once logged in."""
    assert login(client, analyst).status_code == 302
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "This page does not exist." in response.get_data(as_text=True)
    assert client.get("/sources/not-a-uuid").status_code == 404


def test_partner_logs_in_and_sees_nothing(
    client: FlaskClient, runtime: Runtime, partner: Account
) -> None:
    """Partners log in like everyone else and land on their referrals; no source shows."""
    source = make_source(runtime)
    response = login(client, partner)
    assert response.status_code == 302 and response.headers["Location"] == "/referrals/"
    assert client.get("/").headers["Location"] == "/referrals/"  # no inbox for partners
    page = client.get("/", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "not yet a member of a partner organisation" in text
    assert source.designation not in text and source.uuid not in text
