"""The app factory: built from the environment or from explicit parts, no global app."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

import source_app
from composition.runtime import Runtime
from source_app import create_app
from source_app.uploads import SealingRequest
from vault.config import Config
from vault.errors import ConfigError


class TestFactory:
    """create_app wires config, runtime, sessions and limits."""

    def test_from_the_environment(
        self,
        tmp_path: Path,
        redis_url: str,
        redis: Redis,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("BACKUP_INSTANCE_DIR", str(tmp_path / "env-instance"))
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
        monkeypatch.setenv("REDIS_URL", redis_url)
        app = create_app()
        runtime = app.extensions["backup"]
        assert isinstance(runtime, Runtime)
        assert runtime.config.instance_dir == (tmp_path / "env-instance").resolve()
        assert app.config["BACKUP_CONFIG"] is runtime.config
        assert app.test_client().get("/").status_code == 200
        runtime.engine.dispose()

    def test_from_a_runtime_alone(self, runtime: Runtime) -> None:
        app = create_app(runtime=runtime)
        assert app.extensions["backup"] is runtime
        assert app.config["BACKUP_CONFIG"] is runtime.config

    def test_settings(self, app: Flask, config: Config) -> None:
        assert app.request_class is SealingRequest
        assert app.secret_key == config.secrets.for_source().cookie_key
        assert app.config["SESSION_COOKIE_NAME"] == "src"
        assert app.config["MAX_CONTENT_LENGTH"] == config.max_upload_bytes
        assert app.config["MAX_FORM_MEMORY_SIZE"] == config.max_form_field_bytes
        assert app.config["MAX_FORM_PARTS"] == 100
        assert app.config["WTF_CSRF_ENABLED"] is True
        assert {"main", "lookup", "alert", "assist", "language"} <= set(app.blueprints)

    def test_routes(self, app: Flask) -> None:
        routes = {
            (rule.rule, method)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            if method not in ("HEAD", "OPTIONS")
        }
        assert routes == {
            ("/", "GET"),
            ("/generate", "GET"),
            ("/create", "POST"),
            ("/login", "GET"),
            ("/login", "POST"),
            ("/logout", "POST"),
            ("/exit", "GET"),
            ("/lookup", "GET"),
            ("/submit", "POST"),
            ("/reply/delete", "POST"),
            ("/static/<path:filename>", "GET"),
            # ALERT, ASSIST (paths say little: they show in no tab title), language
            ("/report", "GET"),
            ("/report", "POST"),
            ("/help/", "GET"),
            ("/help/now", "GET"),
            ("/help/form", "GET"),
            ("/help/form", "POST"),
            ("/help/consent", "GET"),
            ("/help/consent", "POST"),
            ("/language/<code>", "GET"),
            # custody receipts: the source's codes, and the receipt public key
            ("/receipts", "GET"),
            ("/receipt-key", "GET"),
            ("/public-key", "GET"),
            # published observatory figures (404 unless BACKUP_PUBLIC_FIGURES is on)
            ("/figures", "GET"),
        }

    def test_refuses_to_start_without_secrets(self, config: Config, runtime: Runtime) -> None:
        empty = dataclasses.replace(
            config.secrets, source=dataclasses.replace(config.secrets.for_source(), cookie_key=b"")
        )
        with pytest.raises(ConfigError):
            create_app(dataclasses.replace(config, secrets=empty), runtime)

    def test_no_module_level_app(self) -> None:
        assert not any(isinstance(value, Flask) for value in vars(source_app).values())

    def test_apps_do_not_share_state(self, app: Flask, make_app: Callable[..., Flask]) -> None:
        other = make_app()
        assert other is not app
        assert other.session_interface is not app.session_interface


def test_unhandled_error_is_a_neutral_page(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr("vault.codenames.generate_codename", broken)
    response = client.get("/generate")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "internal detail" not in response.text
    assert "Traceback" not in response.text
    assert 'href="/exit"' in response.text
