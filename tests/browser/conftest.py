"""Both apps served as production serves them (the serving command's gunicorn, as
subprocesses on 127.0.0.1, on the test's Runtime) and Debian's Chromium driven by
Playwright with JavaScript disabled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from composition.runtime import Runtime
from tests.support.scratch import server_tmpdir
from tests.support.served import app_logs, serve_apps

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
    # Everything the servers wrote: gunicorn's own output and each worker's app log.
    log_dir: Path
    # The servers' TMPDIR.
    server_tmp: Path

    def app_log(self) -> str:
        return app_logs(self.log_dir)


@pytest.fixture
def served(runtime: Runtime, tmp_path: Path) -> Iterator[Served]:
    """Both apps on free ports, on this test's instance, database and Redis; their logs
    and their temp directory are fresh directories the leak scans search."""
    log_dir = tmp_path / "served-logs"
    log_dir.mkdir()
    with (
        server_tmpdir() as server_tmp,
        serve_apps(runtime, ["source", "journalist"], log_dir, server_tmp) as urls,
    ):
        yield Served(urls["source"], urls["journalist"], log_dir, server_tmp)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
