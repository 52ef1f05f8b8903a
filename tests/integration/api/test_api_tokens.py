"""Tokens and least privilege: expired, revoked, forged and stale tokens are refused;
a token never grants more than its account's role; token requests are budgeted per
client; every call is
audited."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

import journalist_app
import source_app
from composition.runtime import Runtime
from tests.integration.api.conftest import Server
from tests.support.journalist import FAST_HASHER, Account, make_source, source_row
from vault.config import SECRETS_DIR, load_config
from vault.errors import ConfigError
from vault.models import AuditEvent, Reviewer
from vault.services import reviewers
from vault.services.api_tokens import TOKEN_LIFETIME_SECONDS, TokenService
from web_shared.sessions import RedisSessionInterface

FORBIDDEN = {"error": "Forbidden", "message": "Token authentication failed."}


def _token(server: Server, account: Account, offset: int = 0) -> dict[str, Any]:
    response = requests.post(
        server.api("token"),
        json={
            "username": account.username,
            "passphrase": account.passphrase,
            "one_time_code": account.code(offset),
        },
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _get(server: Server, path: str, token: str) -> requests.Response:
    return requests.get(server.api(path), headers={"Authorization": f"Token {token}"}, timeout=20)


def _service(runtime: Runtime) -> TokenService:
    return TokenService(runtime.config.secrets.for_journalist().api_token_key, runtime.redis)


def _reviewer(runtime: Runtime, account: Account) -> Reviewer:
    with runtime.session() as db:
        found = db.scalar(select(Reviewer).where(Reviewer.uuid == account.uuid))
        assert found is not None
        db.expunge(found)
        return found


def test_token_response_matches_securedrop(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    body = _token(server, analyst)
    assert set(body) == {
        "token",
        "expiration",
        "journalist_uuid",
        "journalist_first_name",
        "journalist_last_name",
    }
    assert body["journalist_uuid"] == analyst.uuid
    assert body["expiration"].endswith("Z")
    assert _get(server, "user", body["token"]).json()["uuid"] == analyst.uuid


def test_missing_wrong_and_replayed_credentials(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    url = server.api("token")
    missing = requests.post(url, json={"username": analyst.username}, timeout=20)
    assert missing.status_code == 400
    assert missing.json() == {"error": "Bad Request", "message": "passphrase field is missing"}
    wrong = requests.post(
        url,
        json={"username": analyst.username, "passphrase": "nope", "one_time_code": "123456"},
        timeout=20,
    )
    assert (wrong.status_code, wrong.json()) == (403, FORBIDDEN)
    code = analyst.code()
    creds = {"username": analyst.username, "passphrase": analyst.passphrase, "one_time_code": code}
    assert requests.post(url, json=creds, timeout=20).status_code == 200
    replay = requests.post(url, json=creds, timeout=20)  # the same one-time code again
    assert (replay.status_code, replay.json()) == (403, FORBIDDEN)
    assert requests.post(url, data="not json", timeout=20).json() == {
        "error": "Bad Request",
        "message": "malformed request",
    }


def test_token_endpoint_budget_is_per_client(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    """Over a real HTTP server (every request from 127.0.0.1: one client): failures
    spend that client's budget, then even the right credentials wait, unhashed."""
    url = server.api("token")
    burst = runtime.config.reviewer_login_budget.burst
    bad = {"username": analyst.username, "passphrase": "wrong", "one_time_code": "000000"}
    codes = [requests.post(url, json=bad, timeout=20).status_code for _ in range(burst + 1)]
    assert codes == [403] * burst + [429]
    good = {
        "username": analyst.username,
        "passphrase": analyst.passphrase,
        "one_time_code": analyst.code(),
    }
    throttled = requests.post(url, json=good, timeout=20)
    assert throttled.status_code == 429 and 0 < int(throttled.headers["Retry-After"]) <= 30
    assert throttled.json()["error"] == "Too Many Requests"


def test_token_flood_does_not_lock_the_account(runtime: Runtime, analyst: Account) -> None:
    """Another client (another Tor circuit) gets its token at once, however many wrong
    ones a flooding client sent for the same username."""
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "fc00:dead:beef:4dad::66"
    bad = {"username": analyst.username, "passphrase": "wrong", "one_time_code": "000000"}
    codes = [attacker.post("/api/v1/token", json=bad).status_code for _ in range(100)]
    burst = runtime.config.reviewer_login_budget.burst
    assert codes == [403] * burst + [429] * (100 - burst)
    reviewer = app.test_client()
    reviewer.environ_base["REMOTE_ADDR"] = "fc00:dead:beef:4dad::77"
    good = {
        "username": analyst.username,
        "passphrase": analyst.passphrase,
        "one_time_code": analyst.code(),
    }
    response = reviewer.post("/api/v1/token", json=good)
    assert response.status_code == 200 and response.get_json()["token"]


def test_no_token_and_bad_tokens_are_refused(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    none = requests.get(server.api("sources"), timeout=20)
    assert none.status_code == 403
    assert none.json()["error"] == "Forbidden"
    valid = _token(server, analyst)["token"]
    payload, mac = valid.split(".")
    forged = f"{payload}.{mac[:-2]}AA"
    bad_tokens = (forged, valid + "x", "a.b", "x" * 600, "", "...")
    for bad in bad_tokens:
        response = _get(server, "sources", bad)
        assert response.status_code == 403, bad
        assert response.json()["error"] == "Forbidden"
    with runtime.session() as db:
        refused = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "api_token_refused")
        )
    # Each presented token that fails is audited; an empty one is no token at all.
    assert refused == len([bad for bad in bad_tokens if bad])
    # A token signed by another instance's secret.
    other = TokenService(b"\x01" * 32, runtime.redis).issue(_reviewer(runtime, analyst)).token
    assert _get(server, "sources", other).json() == FORBIDDEN
    # A cookie session is not a token: the API ignores cookies.
    assert (
        requests.get(server.api("user"), cookies={"journalist": "x" * 43}, timeout=20).status_code
        == 403
    )


def test_expired_token_is_refused(runtime: Runtime, server: Server, analyst: Account) -> None:
    service = _service(runtime)
    reviewer = _reviewer(runtime, analyst)
    fresh = service.issue(reviewer, now=time.time() - TOKEN_LIFETIME_SECONDS + 60).token
    assert _get(server, "user", fresh).status_code == 200
    expired = service.issue(reviewer, now=time.time() - TOKEN_LIFETIME_SECONDS - 1).token
    assert (_get(server, "user", expired).status_code, _get(server, "user", expired).json()) == (
        403,
        FORBIDDEN,
    )


def test_logout_revokes_only_that_token(runtime: Runtime, server: Server, analyst: Account) -> None:
    first = _token(server, analyst)["token"]
    second = _token(server, analyst, offset=1)["token"]
    out = requests.post(
        server.api("logout"),
        headers={"Authorization": f"Token {first}", "Content-Type": "application/json"},
        timeout=20,
    )
    assert out.json() == {"message": "Your token has been revoked."}
    assert _get(server, "user", first).json() == FORBIDDEN
    assert _get(server, "user", second).status_code == 200
    # Revocation lives in Redis, by token id only, until the token would have expired;
    # in a key without a TTL, which Redis's volatile-lru policy never evicts.
    [(token_id, expires)] = runtime.redis.zrange("api-token-revoked", 0, -1, withscores=True)
    assert token_id.decode() not in first
    assert 0 < expires - time.time() <= TOKEN_LIFETIME_SECONDS
    assert runtime.redis.ttl("api-token-revoked") == -1
    assert runtime.redis.ttl("api-token-epoch") == -1


def test_redis_losing_its_data_revives_no_token(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    """Redis keeps nothing on disk: restarted, it has forgotten every revocation. No
    revoked token may work again: every token of before is refused (as every session
    ends), and the reviewer logs in again."""
    revoked = _token(server, analyst, offset=-1)["token"]
    live = _token(server, analyst)["token"]
    requests.post(
        server.api("logout"),
        headers={"Authorization": f"Token {revoked}", "Content-Type": "application/json"},
        timeout=20,
    ).raise_for_status()
    assert _get(server, "user", live).status_code == 200
    runtime.redis.flushdb()  # what a restart of production's Redis leaves
    assert _get(server, "user", revoked).json() == FORBIDDEN
    assert _get(server, "user", live).json() == FORBIDDEN
    fresh = _token(server, analyst, offset=1)["token"]  # a code not used yet
    assert _get(server, "user", fresh).status_code == 200


def test_credential_reset_and_deactivation_end_tokens(
    runtime: Runtime, server: Server, analyst: Account, admin: Account
) -> None:
    token = _token(server, analyst)["token"]
    with runtime.session() as db:
        target = db.scalar(select(Reviewer).where(Reviewer.uuid == analyst.uuid))
        assert target is not None
        reviewers.reset_passphrase(db, None, target, hasher=FAST_HASHER)
    assert _get(server, "user", token).json() == FORBIDDEN

    other = _reviewer(runtime, admin)
    admin_token = _service(runtime).issue(other).token
    assert _get(server, "user", admin_token).status_code == 200
    with runtime.session() as db:
        target = db.scalar(select(Reviewer).where(Reviewer.uuid == admin.uuid))
        assert target is not None
        reviewers.reset_totp(db, None, target)
    assert _get(server, "user", admin_token).json() == FORBIDDEN


def test_deactivated_account_token_is_refused(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    token = _token(server, analyst)["token"]
    with runtime.session() as db:
        target = db.scalar(select(Reviewer).where(Reviewer.uuid == analyst.uuid))
        assert target is not None
        reviewers.set_active(db, None, target, False)
    assert _get(server, "sources", token).json() == FORBIDDEN


def test_reactivation_does_not_revive_tokens(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    """Deactivation ends a token for good, even one not used while deactivated."""
    token = _token(server, analyst)["token"]
    assert _get(server, "user", token).status_code == 200
    with runtime.session() as db:
        target = db.scalar(select(Reviewer).where(Reviewer.uuid == analyst.uuid))
        assert target is not None
        reviewers.set_active(db, None, target, False)
        reviewers.set_active(db, None, target, True)
    assert _get(server, "user", token).json() == FORBIDDEN
    assert _get(server, "sources", token).json() == FORBIDDEN
    # The reactivated account logs in again and gets a token that works.
    fresh = _token(server, analyst, offset=1)["token"]
    assert _get(server, "user", fresh).status_code == 200
    assert _get(server, "user", token).json() == FORBIDDEN


def test_partner_token_sees_nothing(
    runtime: Runtime, server: Server, partner: Account, analyst: Account
) -> None:
    made = make_source(runtime)
    token = _token(server, partner)["token"]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    assert _get(server, "sources", token).json() == {"sources": []}
    # Only themselves among the accounts.
    assert [u["uuid"] for u in _get(server, "users", token).json()["users"]] == [partner.uuid]
    src, sub = made.uuid, made.document_uuid
    denied = [
        ("GET", f"sources/{src}", None),
        ("GET", "submissions", None),
        ("GET", "replies", None),
        ("GET", f"sources/{src}/submissions", None),
        ("GET", f"sources/{src}/submissions/{sub}", None),
        ("GET", f"sources/{src}/submissions/{sub}/download", None),
        ("GET", f"sources/{src}/replies", None),
        ("POST", f"sources/{src}/replies", {"reply": "-----BEGIN PGP MESSAGE-----\n"}),
        ("POST", f"sources/{src}/add_star", None),
        ("DELETE", f"sources/{src}/remove_star", None),
        ("POST", f"sources/{src}/flag", None),
        ("POST", "seen", {"files": [sub]}),
        ("DELETE", f"sources/{src}/submissions/{sub}", None),
        ("DELETE", f"sources/{src}/conversation", None),
        ("DELETE", f"sources/{src}", None),
    ]
    for method, path, body in denied:
        response = requests.request(
            method, server.api(path), json=body, headers=headers, timeout=20
        )
        assert response.status_code == 403, (method, path)
        assert response.json() == {
            "error": "Forbidden",
            "message": "You are not allowed to do this.",
        }
    row = source_row(runtime, src)
    assert row is not None and row.deleted_at is None and row.starred is False
    # Every refusal is in the audit log, under the partner's account, without content.
    with runtime.session() as db:
        refusals = db.scalars(
            select(AuditEvent).where(
                AuditEvent.actor_uuid == partner.uuid,
                AuditEvent.action.in_(("access_denied", "case_access_denied")),
            )
        ).all()
    assert len(refusals) == len(denied)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_call_is_audited_by_identifiers_only(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    made = make_source(runtime, "a message that must never reach the audit log")
    token = _token(server, analyst)["token"]
    with runtime.session() as db:
        before = len(list(db.scalars(select(AuditEvent))))
    paths = [
        "sources",
        f"sources/{made.uuid}",
        f"sources/{made.uuid}/submissions",
        "submissions",
        f"sources/{made.uuid}/replies",
        "replies",
        "user",
        "users",
        f"sources/{made.uuid}/submissions/{made.message_uuid}/download",
    ]
    seen = before
    for path in paths:
        assert _get(server, path, token).status_code == 200, path
        with runtime.session() as db:
            now = len(list(db.scalars(select(AuditEvent))))
        assert now > seen, f"GET {path} left no audit event"
        seen = now
    with runtime.session() as db:
        events = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))[before:]
    reviewer_id = _reviewer(runtime, analyst).id
    assert all(e.actor_id == reviewer_id for e in events)
    for event in events:
        assert event.object_uuid in (None, made.uuid, made.message_uuid, analyst.uuid)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hostile_bodies_get_clear_json_errors(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    made = make_source(runtime)
    token = _token(server, analyst)["token"]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    cases = [
        ("seen", "[" * 100_000 + "]" * 100_000, 400),
        ("seen", '{"files": "not a list"}', 400),
        ("seen", '{"files": [' + ",".join(['"x"'] * 1001) + "]}", 400),
        ("seen", "", 400),
        (f"sources/{made.uuid}/replies", "[]", 400),
        (f"sources/{made.uuid}/replies", '{"reply": 5}', 400),
        (f"sources/{made.uuid}/replies", '{"reply": ""}', 400),
        (f"sources/{made.uuid}/replies", '{"uuid": "x"}', 400),
        ("token", '{"username": 1, "passphrase": "p", "one_time_code": "1"}', 400),
        ("seen", "x" * (1024 * 1024 + 1), 413),
    ]
    for path, body, status in cases:
        response = requests.post(server.api(path), data=body, headers=headers, timeout=30)
        assert response.status_code == status, (path, body[:40], response.text)
        assert set(response.json()) == {"error", "message"}
    # Unknown paths and methods under /api/ answer JSON too, never the login page.
    missing = requests.get(server.api("nothing/here"), headers=headers, timeout=20)
    assert missing.status_code == 404 and missing.json()["error"] == "Not Found"
    wrong = requests.put(server.api("sources"), headers=headers, timeout=20)
    assert wrong.status_code == 405 and wrong.json()["error"] == "Method Not Allowed"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_any_altered_token_is_refused(runtime: Runtime, analyst: Account) -> None:
    """Property: changing any character of a valid token, or cutting it anywhere, makes
    it worthless."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from vault.services.api_tokens import InvalidTokenError

    service = _service(runtime)
    token = service.issue(_reviewer(runtime, analyst)).token
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        position=st.integers(0, len(token) - 1),
        char=st.sampled_from(alphabet),
        cut=st.booleans(),
    )
    def altered(position: int, char: str, cut: bool) -> None:
        candidate = token[:position] if cut else token[:position] + char + token[position + 1 :]
        if candidate == token:
            return
        with runtime.session() as db, pytest.raises(InvalidTokenError):
            service.verify(db, candidate)

    altered()
    with runtime.session() as db:
        assert service.verify(db, token).uuid == analyst.uuid


def test_uuids_that_are_not_uuids_name_nothing(
    runtime: Runtime, server: Server, analyst: Account
) -> None:
    """Found by the fuzzer: a NUL in a uuid made PostgreSQL fail (500). In a JSON body such
    a value names nothing (404); in a path it is refused (400); never a 500."""
    made = make_source(runtime)
    token = _token(server, analyst)["token"]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    nul_login = {"username": "analyst1\x00", "passphrase": "x", "one_time_code": "1"}
    response = requests.post(server.api("token"), json=nul_login, timeout=20)
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    for body in ({"files": ["\x00"]}, {"messages": ["a\x00b"]}, {"replies": ["\x00"]}):
        response = requests.post(server.api("seen"), json=body, headers=headers, timeout=20)
        assert response.status_code == 404, body
        assert response.json()["message"].endswith("not found")
    # A NUL anywhere in a path is refused by both apps before routing: a clear 400.
    for path in (
        "sources/%00",
        f"sources/{made.uuid}/submissions/%00",
        f"sources/{made.uuid}/replies/x%00y/download",
    ):
        response = requests.get(server.api(path), headers=headers, timeout=20)
        assert response.status_code == 400, path
        assert response.json()["error"] == "Bad Request", path
    response = requests.get(server.api(f"sources/{made.uuid.upper()}"), headers=headers, timeout=20)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "message": "Not found."}


def test_the_source_interface_cannot_mint_a_token(
    runtime: Runtime, server: Server, analyst: Account, tmp_path: Path
) -> None:
    """DESIGN.md: each process holds only the secrets its job needs. The source app is
    built as production builds it (its own secrets file only, handed to its unit as a
    systemd credential): it holds no API-token key, and a token signed with any key it
    does hold is refused by the reviewer API."""
    instance = runtime.config.instance_dir
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    shutil.copy(instance / SECRETS_DIR / "source.json", credentials / "source.json")
    env = {
        "BACKUP_INSTANCE_DIR": str(instance),
        "DATABASE_URL": runtime.config.database_url,
        "REDIS_URL": runtime.config.redis_url or "",
        "BACKUP_PRODUCTION": "1",
        "BACKUP_SECRETS_DIR": str(credentials),
    }
    config = load_config(env, interface="source")
    app = source_app.create_app(config, dataclasses.replace(runtime, config=config))
    assert config.secrets.journalist is None
    with pytest.raises(ConfigError, match="no secrets of the reviewer interface"):
        config.secrets.for_journalist()
    with pytest.raises(ConfigError, match="backupctl secrets init"):
        load_config(env, interface="journalist")  # its file is not in the source's reach

    session_interface = app.session_interface
    assert isinstance(session_interface, RedisSessionInterface)
    held = {*vars(config.secrets.for_source()).values(), session_interface.pepper}
    assert isinstance(app.secret_key, bytes)
    held.add(app.secret_key)
    assert runtime.config.secrets.for_journalist().api_token_key not in held
    reviewer = _reviewer(runtime, analyst)
    for key in held:
        forged = TokenService(key, runtime.redis).issue(reviewer).token
        assert _get(server, "user", forged).json() == FORBIDDEN
    genuine = _service(runtime).issue(reviewer).token
    assert _get(server, "user", genuine).json()["uuid"] == analyst.uuid
