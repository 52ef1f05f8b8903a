"""Both apps served for real (threaded WSGI servers on 127.0.0.1) and Debian's Chromium
driven by Playwright with JavaScript disabled."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

import journalist_app
import source_app
from tests.support.journalist import FAST_HASHER
from vault.runtime import Runtime

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Served:
    source_url: str
    journalist_url: str
    log_file: Path
    server_tmp: Path


def _serve(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def served(runtime: Runtime, tmp_path: Path) -> Iterator[Served]:
    """Both apps on free ports; everything they log goes to a file in the instance."""
    log_file = runtime.config.log_dir / "apps.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    # The servers' temp directory is a fresh one, searched for plaintext afterwards.
    server_tmp = tmp_path / "server-tmp"
    server_tmp.mkdir()
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(server_tmp)
    os.environ["TMPDIR"] = str(server_tmp)
    src_server, src_thread = _serve(source_app.create_app(runtime.config, runtime))
    jou_server, jou_thread = _serve(
        journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    )
    try:
        yield Served(
            f"http://127.0.0.1:{src_server.server_port}",
            f"http://127.0.0.1:{jou_server.server_port}",
            log_file,
            server_tmp,
        )
    finally:
        for server, thread in ((src_server, src_thread), (jou_server, jou_thread)):
            server.shutdown()
            thread.join(10)
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
