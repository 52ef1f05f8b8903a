"""Our CSRF token is Flask-WTF's: the bytes itsdangerous's serializer makes, which
`CSRFProtect` and `validate_csrf` accept unchanged; one token per request, a new raw
token only for a session without one; the check runs for the methods it protects."""

from __future__ import annotations

import secrets
import time

import pytest
from flask import Flask, session
from flask_wtf.csrf import CSRFProtect, validate_csrf
from itsdangerous import URLSafeTimedSerializer
from wtforms import ValidationError

from web_shared import csrf_tokens
from web_shared.csrf_tokens import generate_csrf


def _app(secret: bytes | str = b"k" * 32) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    csrf_tokens.install(app, CSRFProtect())

    @app.post("/form")
    def form() -> str:
        return "accepted"

    return app


def test_flask_wtf_validates_our_token_and_refuses_a_forged_one() -> None:
    app = _app()
    with app.test_request_context("/"):
        token = generate_csrf()
        assert generate_csrf() is token  # kept for the request, as Flask-WTF does
        validate_csrf(token)  # raises if not accepted
        raw = session["csrf_token"]
        assert isinstance(raw, str) and len(raw) == 40
        with pytest.raises(ValidationError):
            validate_csrf(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with _app(b"another key, another app....").test_request_context("/"):
        session["csrf_token"] = raw
        with pytest.raises(ValidationError):
            validate_csrf(token)  # signed with the other app's key


def test_a_session_keeps_its_raw_token_and_a_bad_one_is_replaced() -> None:
    app = _app()
    with app.test_request_context("/"):
        session["csrf_token"] = "a" * 40
        validate_csrf(generate_csrf())
        assert session["csrf_token"] == "a" * 40
    with app.test_request_context("/"):
        session["csrf_token"] = 12345  # not a token Flask-WTF could compare
        validate_csrf(generate_csrf())
        assert isinstance(session["csrf_token"], str) and session["csrf_token"] != 12345
    with app.test_request_context("/"):
        first = generate_csrf()
    with app.test_request_context("/"):
        assert generate_csrf() != first  # a new session, a new raw token


def test_csrf_protect_accepts_a_form_with_our_token_and_refuses_one_without() -> None:
    app = _app()

    @app.get("/page")
    def page() -> str:
        return generate_csrf()

    client = app.test_client()
    token = client.get("/page").get_data(as_text=True)
    assert client.post("/form", data={"csrf_token": token}).status_code == 200
    assert client.post("/form", data={}).status_code == 400
    assert client.post("/form", data={"csrf_token": token + "x"}).status_code == 400


@pytest.mark.parametrize(
    "secret",
    [b"k" * 32, secrets.token_bytes(32), "a text key"],
    ids=["bytes", "random-bytes", "text"],  # the same ids in every xdist worker
)
def test_the_token_is_the_one_itsdangerous_makes(
    secret: bytes | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte for byte, at fixed times (the timestamp is part of the token), for many raw
    tokens: the serializer Flask-WTF uses, with its salt."""
    reference = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
    app = _app(secret)
    for now in (1_700_000_000.5, 1_700_000_001.0, 4_102_444_800.0, 255.0):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        for _ in range(50):
            with app.test_request_context("/"):
                token = generate_csrf()
                assert token == reference.dumps(session["csrf_token"])
                validate_csrf(token)


def test_a_raw_token_whose_json_is_not_itself_is_replaced() -> None:
    app = _app()
    with app.test_request_context("/"):
        session["csrf_token"] = 'a"b\\c'
        validate_csrf(generate_csrf())
        assert session["csrf_token"].isalnum()


def test_the_check_still_guards_every_protected_method_and_only_those() -> None:
    app = _app()
    for method in ("put", "patch", "delete"):
        app.add_url_rule(f"/{method}", method, lambda: "done", methods=[method.upper()])
    app.add_url_rule("/read", "read", lambda: "read")
    client = app.test_client()
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(f"/{method}").status_code == 400
    assert client.get("/read").status_code == 200  # a GET carries no token
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/form", data={}).status_code == 200
