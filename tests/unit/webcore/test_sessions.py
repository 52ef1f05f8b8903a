"""Server-side sessions: the cookie is a random token, Redis holds only ciphertext."""

from __future__ import annotations

from flask import Flask, session
from redis import Redis

from tests.support.leaks import assert_no_leak
from webcore.sessions import RedisSessionInterface

MARKER = "session-marker-7c1f"


def _app(redis: Redis, idle: int = 60) -> Flask:
    app = Flask(__name__)
    app.secret_key = b"k" * 32
    app.session_interface = RedisSessionInterface(
        redis, prefix="test-session", idle_seconds=idle, pepper=b"p" * 32
    )

    @app.post("/login")
    def login() -> str:
        session.regenerate()  # type: ignore[attr-defined]
        session["who"] = MARKER
        return "ok"

    @app.get("/who")
    def who() -> str:
        return str(session.get("who", "nobody"))

    @app.post("/logout")
    def logout() -> str:
        session.destroy()  # type: ignore[attr-defined]
        return "bye"

    return app


def test_cookie_is_random_token_and_redis_holds_ciphertext(redis: Redis) -> None:
    client = _app(redis).test_client()
    client.post("/login")
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert len(cookie.value) == 43 and MARKER not in cookie.value
    assert cookie.http_only and cookie.same_site == "Strict"
    assert len(redis.keys("test-session:*")) == 1
    assert_no_leak(MARKER, redis=redis)
    assert cookie.value.encode() not in b"".join(redis.keys("*"))
    assert client.get("/who").text == MARKER


def test_logout_wipes_redis_and_cookie(redis: Redis) -> None:
    client = _app(redis).test_client()
    client.post("/login")
    client.post("/logout")
    assert redis.keys("test-session:*") == []
    assert client.get_cookie("session") is None
    assert client.get("/who").text == "nobody"


def test_login_rotates_token(redis: Redis) -> None:
    client = _app(redis).test_client()
    client.post("/login")
    first = client.get_cookie("session").value
    client.post("/login")
    second = client.get_cookie("session").value
    assert first != second
    assert len(redis.keys("test-session:*")) == 1


def test_forged_or_tampered_cookie_gives_empty_session(redis: Redis) -> None:
    app = _app(redis)
    client = app.test_client()
    client.post("/login")
    real = client.get_cookie("session").value
    client.set_cookie("session", "A" * 43)
    assert client.get("/who").text == "nobody"
    key = redis.keys("test-session:*")[0]
    blob = bytearray(redis.get(key))
    blob[-1] ^= 1
    redis.set(key, bytes(blob))
    client.set_cookie("session", real)
    assert client.get("/who").text == "nobody"


def test_idle_timeout_is_redis_expiry(redis: Redis) -> None:
    client = _app(redis, idle=30).test_client()
    client.post("/login")
    [key] = redis.keys("test-session:*")
    assert 0 < redis.ttl(key) <= 30
