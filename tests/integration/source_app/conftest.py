"""Fixtures for the source interface: one app per test on the real runtime (gpg, Redis,
SQLite/PostgreSQL). CSRF stays on: the helpers read the token from each page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from composition.runtime import Runtime
from source_app import create_app
from tests.integration.source_app.helpers import SourceBrowser
from vault.config import Config


@pytest.fixture
def make_app(config: Config, runtime: Runtime) -> Callable[..., Flask]:
    """An app on the test runtime, with config fields overridden (e.g. small limits)."""

    def factory(**overrides: Any) -> Flask:
        return create_app(replace(config, **overrides), runtime)

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def browser(client: FlaskClient) -> SourceBrowser:
    return SourceBrowser(client)


@pytest.fixture
def logged_in(browser: SourceBrowser) -> SourceBrowser:
    """A source who has just created a codename (and so is logged in, not recorded yet:
    the first submission records it)."""
    browser.create()
    return browser


@pytest.fixture
def recorded(browser: SourceBrowser) -> SourceBrowser:
    """A logged-in source who has sent a first message, so has a row and a reply key."""
    browser.start()
    return browser
