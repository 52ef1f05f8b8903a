"""Servers for the serving tests, started once for the package: the whole product
(`backupctl run`, which serves both apps with `backupctl serve`) and the serving
command's gunicorn around a test app that shows REMOTE_ADDR."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keys.gpg import kill_agent
from tests.support.product import Run, make_instance_root, run_env
from tests.support.servers import free_port
from tests.support.serving import serve_factory
from vault.config import KEYRING_SIDES

HOST = "127.0.0.1"
# A page must answer within this while slow clients hold connections: a functional
# bound (a stalled page waits tens of seconds), not a measurement.
PAGE_BOUND_SECONDS = 5.0


@dataclass
class Product:
    instance: Path
    source_port: int
    journalist_port: int
    run_pid: int  # `backupctl run`: the apps' gunicorn masters are its children

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.source_port}"

    def sealed(self) -> set[Path]:
        return set((self.instance / "store").glob("*/*-doc.gz.gpg"))


@pytest.fixture(scope="package")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    root = make_instance_root()
    instance = root / "instance"
    source_port, journalist_port = free_port(), free_port()
    env = run_env(source_port, journalist_port)
    # Every source here connects from 127.0.0.1 without a PROXY line: one client, whose
    # budget of new codenames (5 at once) would stop the sources these tests start.
    env["BACKUP_NEW_SOURCES_BURST"] = "64"
    run = Run(instance, env, tmp_path_factory.mktemp("serving") / "run.log")
    try:
        run.wait_until_serving(source_port, journalist_port)
        yield Product(instance, source_port, journalist_port, run.proc.pid)
    finally:
        run.stop(signal.SIGTERM)
        for side in KEYRING_SIDES:
            kill_agent(instance / "gnupg" / side)
        kill_agent(instance / "dev-workstation-gnupg")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def echo_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The serving command's gunicorn (same settings, same worker) around an app that
    answers with REMOTE_ADDR (and a large body at /large)."""
    port = free_port()
    log = tmp_path_factory.mktemp("echo") / "gunicorn.log"
    with serve_factory("tests.support.echo_app:create_app", port, log):
        yield port
