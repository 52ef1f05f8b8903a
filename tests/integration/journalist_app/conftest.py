"""The reviewer app on a real Runtime (gpg, Redis, SQLite and PostgreSQL), CSRF on.

Only the argon2id cost is lowered, through the factory's `hasher` argument.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from composition.runtime import Runtime
from journalist_app import create_app
from tests.support.journalist import FAST_HASHER, Account, login, make_account
from vault.models import Role


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Flask]:
    app = create_app(runtime.config, runtime, hasher=FAST_HASHER)
    app.testing = True
    assert app.config.get("WTF_CSRF_ENABLED", True), "CSRF stays on in tests"
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def analyst(runtime: Runtime) -> Account:
    return make_account(runtime, "analyst1", Role.ANALYST)


@pytest.fixture
def admin(runtime: Runtime) -> Account:
    return make_account(runtime, "admin1", Role.ADMIN)


@pytest.fixture
def partner(runtime: Runtime) -> Account:
    return make_account(runtime, "partner1", Role.PARTNER)


def _logged_in(client: FlaskClient, account: Account) -> FlaskClient:
    response = login(client, account)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def analyst_client(client: FlaskClient, analyst: Account) -> FlaskClient:
    return _logged_in(client, analyst)


@pytest.fixture
def admin_client(client: FlaskClient, admin: Account) -> FlaskClient:
    return _logged_in(client, admin)


@pytest.fixture
def partner_client(client: FlaskClient, partner: Account) -> FlaskClient:
    return _logged_in(client, partner)
