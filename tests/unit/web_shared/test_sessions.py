"""Server-side sessions: the cookie is a random token, Redis holds only ciphertext."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session
from redis import Redis

from tests.support.leaks import assert_no_leak
from web_shared.sessions import RedisSessionInterface, refuse_unreadable_session

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


class TestAnonymousSessions:
    """Before login the session is a sealed cookie: nothing on the server, nothing readable,
    nothing a visitor can forge, and only for the idle timeout."""

    def _anonymous_app(self, redis: Redis, prefix: str = "test-session") -> Flask:
        app = _app(redis)
        app.session_interface = RedisSessionInterface(
            redis, prefix=prefix, idle_seconds=60, pepper=b"p" * 32
        )

        @app.post("/note")
        def note() -> str:
            session["note"] = MARKER
            return "noted"

        return app

    def test_anonymous_session_writes_nothing_to_redis(self, redis: Redis) -> None:
        client = self._anonymous_app(redis).test_client()
        before = redis.dbsize()
        client.post("/note")
        cookie = client.get_cookie("session")
        assert cookie is not None and cookie.value.startswith("a.")
        assert MARKER not in cookie.value
        assert cookie.http_only and cookie.same_site == "Strict"
        assert redis.dbsize() == before
        assert client.get("/who").text == "nobody"  # `who` is not set, the note is kept
        assert redis.dbsize() == before

    def test_login_moves_the_session_to_redis(self, redis: Redis) -> None:
        client = self._anonymous_app(redis).test_client()
        client.post("/note")
        client.post("/login")
        cookie = client.get_cookie("session")
        assert cookie is not None and len(cookie.value) == 43
        assert len(redis.keys("test-session:*")) == 1
        assert client.get("/who").text == MARKER

    def test_tampered_expired_or_foreign_cookies_open_nothing(self, redis: Redis) -> None:
        interface = RedisSessionInterface(
            redis, prefix="test-session", idle_seconds=60, pepper=b"p" * 32
        )
        sealed = interface.seal_anonymous({"codename": MARKER}, now=1_000_000)
        assert interface.open_anonymous(sealed, now=1_000_030) == {"codename": MARKER}
        assert interface.open_anonymous(sealed, now=1_000_061) is None  # idle too long
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        assert interface.open_anonymous(flipped, now=1_000_030) is None
        # Bound to its app (prefix) and to the server's pepper.
        other_app = RedisSessionInterface(
            redis, prefix="other-session", idle_seconds=60, pepper=b"p" * 32
        )
        other_server = RedisSessionInterface(
            redis, prefix="test-session", idle_seconds=60, pepper=b"q" * 32
        )
        assert other_app.open_anonymous(sealed, now=1_000_030) is None
        assert other_server.open_anonymous(sealed, now=1_000_030) is None

    def test_logout_of_an_anonymous_session_clears_the_cookie(self, redis: Redis) -> None:
        client = self._anonymous_app(redis).test_client()
        client.post("/note")
        client.post("/logout")
        assert client.get_cookie("session") is None


def test_a_session_redis_cannot_read_is_refused_not_dropped(redis: Redis, tmp_path: Path) -> None:
    """Redis down: a visitor with a session gets a 503 (which the apps render as their
    neutral page), keeps their cookie, and nothing in Redis is touched."""
    app = _app(redis)
    app.before_request(refuse_unreadable_session)
    client = app.test_client()
    client.post("/login")
    cookie = client.get_cookie("session")
    assert cookie is not None
    down = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    app.session_interface = RedisSessionInterface(
        down, prefix="test-session", idle_seconds=60, pepper=b"p" * 32
    )
    answer = client.get("/who")
    assert answer.status_code == 503
    assert "Set-Cookie" not in answer.headers
    assert client.get_cookie("session") is not None
    app.session_interface = RedisSessionInterface(
        redis, prefix="test-session", idle_seconds=60, pepper=b"p" * 32
    )
    assert client.get("/who").text == MARKER  # back as soon as Redis answers


def test_the_cookie_header_is_the_one_werkzeug_writes(redis: Redis) -> None:
    """Each Set-Cookie header, with the header around the value built once per app, is
    byte for byte what `response.set_cookie` writes, whatever the app's cookie settings;
    Vary names Cookie once, beside what a view already put there."""
    settings: list[dict[str, object]] = [
        {},
        {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_NAME": "src"},
        {"SESSION_COOKIE_DOMAIN": "example.onion", "SESSION_COOKIE_PATH": "/some path/"},
    ]
    for config in settings:
        app = _app(redis)
        app.config.update(config)

        @app.get("/anonymous")
        def anonymous() -> tuple[str, dict[str, str]]:
            session["language"] = "fr"
            return "ok", {"Vary": "Accept-Language"}

        client = app.test_client()
        for response in (client.post("/login"), client.get("/anonymous")):
            interface = app.session_interface
            assert isinstance(interface, RedisSessionInterface)
            [header] = response.headers.getlist("Set-Cookie")
            name, _sep, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            with app.test_request_context():
                expected = Flask.response_class()
                expected.set_cookie(
                    name,
                    value,
                    httponly=True,
                    secure=interface.get_cookie_secure(app),
                    samesite="Strict",
                    domain=interface.get_cookie_domain(app),
                    path=interface.get_cookie_path(app),
                )
            assert header == expected.headers["Set-Cookie"]
            assert "Cookie" in response.vary and len(response.headers.getlist("Vary")) == 1
        assert response.vary.as_set() == {"accept-language", "cookie"}
    # A value Werkzeug would quote is left to it.
    app = _app(redis)
    interface = app.session_interface
    assert isinstance(interface, RedisSessionInterface)
    quoted, plain = Flask.response_class(), Flask.response_class()
    interface._set_cookie(quoted, "s", 'a "b";c', None, "/", False)
    plain.set_cookie("s", 'a "b";c', httponly=True, samesite="Strict")
    assert quoted.headers["Set-Cookie"] == plain.headers["Set-Cookie"]
