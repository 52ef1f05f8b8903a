"""The reviewer app served as production serves it (the serving command's gunicorn, a
subprocess on 127.0.0.1, free port) on a real Runtime: gpg, Redis, SQLite and
PostgreSQL. Only the argon2id cost is lowered (tests.support.wsgi)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gnupg
import pytest

from composition import jobs
from composition.runtime import Runtime
from tests.support.journalist import Account, make_account
from tests.support.scratch import server_tmpdir
from tests.support.served import app_logs, serve_apps
from vault.models import Role
from vault.services import deletion


@dataclass
class Server:
    url: str  # with a trailing slash: the SDK joins paths onto it
    # Everything the server wrote: gunicorn's own output and each worker's app log.
    log_dir: Path
    # The server's TMPDIR.
    tmp: Path

    def api(self, path: str) -> str:
        return f"{self.url}api/v1/{path.lstrip('/')}"

    def app_log(self) -> str:
        return app_logs(self.log_dir)


@pytest.fixture
def server(runtime: Runtime, tmp_path: Path) -> Iterator[Server]:
    """The reviewer app on this test's instance, database and Redis; its logs (every
    level) and its temp directory are fresh directories the leak tests search."""
    log_dir = tmp_path / "served-logs"
    log_dir.mkdir()
    with (
        server_tmpdir() as server_tmp,
        serve_apps(runtime, ["journalist"], log_dir, server_tmp) as urls,
    ):
        yield Server(urls["journalist"] + "/", log_dir, server_tmp)


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
    jobs.worker(runtime, [deletion.queue(runtime.redis)]).work(burst=True)


@pytest.fixture
def client_gpg(tmp_path: Path) -> gnupg.GPG:
    """The reviewer's own gpg (as on the SecureDrop workstation) that encrypts replies."""
    home = tmp_path / "client-gnupg"
    home.mkdir(mode=0o700)
    return gnupg.GPG(gnupghome=str(home))
