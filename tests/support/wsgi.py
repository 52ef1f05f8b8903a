"""WSGI entry points for tests that serve the apps with gunicorn: the production
factories, configured from the environment; only the argon2id cost is lowered."""

from __future__ import annotations

from flask import Flask

import journalist_app
import source_app
from tests.support.journalist import FAST_HASHER


def journalist() -> Flask:
    return journalist_app.create_app(hasher=FAST_HASHER)


def source() -> Flask:
    return source_app.create_app()
