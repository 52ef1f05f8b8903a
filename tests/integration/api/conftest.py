"""The reviewer app served for real (a threaded WSGI server on 127.0.0.1, free port) on
a real Runtime: gpg, Redis, SQLite and PostgreSQL. Only the argon2id cost is lowered."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gnupg
import pytest
from rq import SimpleWorker
from werkzeug.serving import make_server

import journalist_app
from tests.support.journalist import FAST_HASHER, Account, make_account
from vault import jobs
from vault.models import Role
from vault.runtime import Runtime
from vault.services import deletion


@dataclass
class Server:
    url: str  # with a trailing slash: the SDK joins paths onto it

    def api(self, path: str) -> str:
        return f"{self.url}api/v1/{path.lstrip('/')}"


@pytest.fixture
def server(runtime: Runtime) -> Iterator[Server]:
    """Everything the server logs (access lines included) goes to the instance's log
    directory, where the leak tests search it."""
    handler = logging.FileHandler(runtime.config.log_dir / "api.log")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_port}/")
    finally:
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


@pytest.fixture
def analyst(runtime: Runtime) -> Account:
    return make_account(runtime, "analyst1", Role.ANALYST)


@pytest.fixture
def partner(runtime: Runtime) -> Account:
    return make_account(runtime, "partner1", Role.PARTNER)


@pytest.fixture
def admin(runtime: Runtime) -> Account:
    return make_account(runtime, "admin1", Role.ADMIN)


def run_jobs(runtime: Runtime) -> None:
    """Run the queued deletion jobs now, as the RQ worker would."""
    jobs.bind(runtime)
    SimpleWorker([deletion.queue(runtime.redis)], connection=runtime.redis).work(burst=True)


@pytest.fixture
def client_gpg(tmp_path: Path) -> gnupg.GPG:
    """The reviewer's own gpg (as on the SecureDrop workstation) that encrypts replies."""
    home = tmp_path / "client-gnupg"
    home.mkdir(mode=0o700)
    return gnupg.GPG(gnupghome=str(home))
