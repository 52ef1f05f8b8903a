"""The serving command as a subprocess, for tests that start an app server themselves.

`backupctl serve APP` is what production runs; `serve_factory` runs the same gunicorn
(settings and worker from webcore/serving.py) around a test-only WSGI factory, for tests
that must see what the server hands an app (REMOTE_ADDR).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.product import REPO

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def _wait_serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            requests.get(f"http://127.0.0.1:{port}/", headers={"Host": "localhost"}, timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT}s:\n{log.read_text()}")


@contextmanager
def _running(argv: list[str], port: int, env: Mapping[str, str], log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_serving(proc, port, log)
            yield
        finally:
            proc.terminate()  # SIGTERM: gunicorn's graceful stop
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def serve_app(app: str, port: int, env: Mapping[str, str], log: Path) -> Iterator[None]:
    """`backupctl serve APP --bind 127.0.0.1:PORT`, configured by `env`."""
    argv = [sys.executable, "-m", "backupctl", "serve", app, "--bind", f"127.0.0.1:{port}"]
    with _running(argv, port, env, log):
        yield


@contextmanager
def serve_factory(
    factory: str, port: int, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[None]:
    """The serving command's gunicorn around `module:function` (a test app), configured
    by `env` (default: this process's environment)."""
    code = (
        "from backupctl.cmd_serve import GunicornServer\n"
        "from webcore.serving import gunicorn_settings\n"
        f"GunicornServer({factory!r}, gunicorn_settings('127.0.0.1:{port}')).run()\n"
    )
    with _running([sys.executable, "-c", code], port, os.environ if env is None else env, log):
        yield
