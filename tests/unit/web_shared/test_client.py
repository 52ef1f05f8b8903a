"""`client_key`: one opaque key per client address, keyed by the app's secret."""

from __future__ import annotations

from flask import Flask

from web_shared.client import client_key


def _key(app: Flask, address: str) -> str:
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
        return client_key()


def _app(secret: bytes) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    return app


def test_one_key_per_circuit_and_none_holds_the_address() -> None:
    app = _app(b"k" * 32)
    first = _key(app, "fc00:dead:beef:4dad::1")
    assert first == _key(app, "fc00:dead:beef:4dad::1")
    assert first != _key(app, "fc00:dead:beef:4dad::2")
    assert "4dad" not in first and "dead" not in first
    assert len(first) == 64


def test_keys_depend_on_the_secret() -> None:
    address = "fc00:dead:beef:4dad::1"
    assert _key(_app(b"a" * 32), address) != _key(_app(b"b" * 32), address)


def test_without_an_address_every_request_is_one_client() -> None:
    """A unix socket without PROXY protocol: no address, one shared (named) client."""
    app = _app(b"k" * 32)
    assert _key(app, "") == _key(app, "")
    assert _key(app, "") != _key(app, "127.0.0.1")
