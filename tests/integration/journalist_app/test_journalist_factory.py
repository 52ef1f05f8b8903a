"""The factory, and what an unexpected error shows and logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from composition.runtime import Runtime
from journalist_app import PUBLIC_ENDPOINTS, create_app
from tests.support.journalist import make_source, post_form
from tests.support.leaks import assert_no_leak
from vault.config import Config
from web_shared.sessions import RedisSessionInterface


def test_factory_without_arguments_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, config: Config, tmp_path: Path
) -> None:
    """`create_app()` builds config and runtime from the environment."""
    instance = tmp_path / "from-env"
    monkeypatch.setenv("BACKUP_INSTANCE_DIR", str(instance))
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("REDIS_URL", config.redis_url or "")
    app = create_app()
    runtime = app.extensions["backup"]
    assert isinstance(runtime, Runtime)
    assert runtime.config.instance_dir == instance.resolve()
    assert app.secret_key == runtime.config.secrets.for_journalist().cookie_key
    assert isinstance(app.session_interface, RedisSessionInterface)
    assert app.session_interface.prefix == "journalist-session"
    assert {"auth", "inbox", "admin"} <= set(app.blueprints)
    assert PUBLIC_ENDPOINTS == {"auth.login", "static"}
    runtime.engine.dispose()


def test_unexpected_error_is_neutral_and_logs_no_content(
    analyst_client: FlaskClient,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A crash while sealing a reply: a generic 500 page, a log line without the text."""
    source = make_source(runtime)
    marker = "words-that-must-never-be-logged-41c9"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"sealing failed for {args!r}")

    monkeypatch.setattr(runtime.store, "seal_bytes_to", broken)
    page = f"/sources/{source.uuid}"
    with caplog.at_level(logging.DEBUG):
        response = post_form(analyst_client, f"{page}/reply", {"message": marker}, page=page)
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body and marker not in body and "RuntimeError" not in body
    assert "RuntimeError" in caplog.text
    assert_no_leak(marker, blobs={"captured logs": caplog.text.encode()})


def test_templates_load_nothing_from_elsewhere() -> None:
    """No JavaScript, no inline style, no other origin in any template."""
    root = Path(__file__).resolve().parents[3] / "journalist_app" / "templates"
    templates = list(root.rglob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text().lower()
        for needle in ("<script", "javascript:", "style=", "http://", "https://", "//"):
            assert needle not in text, (template, needle)
        assert not re.search(r"\son[a-z]+=", text), template  # no event handlers
