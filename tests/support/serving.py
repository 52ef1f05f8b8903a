"""The serving command as a subprocess, for tests that start an app server themselves.

`backupctl serve APP` is what production runs; `serve_factory` runs the same gunicorn
(settings and worker from web_shared/serving.py) around another WSGI factory: a test app
that shows REMOTE_ADDR, or the apps with a cheap argon2id and their logs captured
(`tests.support.served`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.product import REPO

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
_POLL_SECONDS = 0.1
_FACTORY_CODE = (
    "import sys\n"
    "from backupctl.server.cmd_serve import GunicornServer\n"
    "from web_shared.serving import gunicorn_settings\n"
    "GunicornServer(sys.argv[1], gunicorn_settings(sys.argv[2])).run()\n"
)


@dataclass(frozen=True)
class Spec:
    """One server to start: its command line, port and log (its stdout and stderr)."""

    argv: list[str]
    port: int
    log: Path


def app_spec(app: str, port: int, log: Path) -> Spec:
    """`backupctl serve APP --bind 127.0.0.1:PORT`."""
    argv = [sys.executable, "-m", "backupctl", "serve", app, "--bind", f"127.0.0.1:{port}"]
    return Spec(argv, port, log)


def factory_spec(factory: str, port: int, log: Path) -> Spec:
    """The serving command's gunicorn around `module:function`."""
    return Spec([sys.executable, "-c", _FACTORY_CODE, factory, f"127.0.0.1:{port}"], port, log)


def _wait_serving(proc: subprocess.Popen[bytes], spec: Spec, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{spec.log.read_text()}")
        # gunicorn listens before its workers have built the app: the first request
        # waits in the listen queue meanwhile, however long that takes.
        left = max(deadline - time.monotonic(), _POLL_SECONDS)
        try:
            requests.get(
                f"http://127.0.0.1:{spec.port}/", headers={"Host": "localhost"}, timeout=left
            )
            return
        except requests.ReadTimeout:
            break
        except requests.ConnectionError:
            time.sleep(_POLL_SECONDS)
    raise RuntimeError(f"no answer within {START_TIMEOUT}s:\n{spec.log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serving(specs: Sequence[Spec], env: Mapping[str, str], graceful: bool = True) -> Iterator[None]:
    """Start every server at once (they boot in parallel), wait until each answers, stop
    them all at the end: gracefully (SIGTERM, as systemd does; kept-alive connections
    linger 2 s), or at once (SIGKILL) for tests that need nothing from the stop."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for spec in specs:
            with open(spec.log, "ab") as out:
                procs.append(
                    subprocess.Popen(
                        spec.argv,
                        cwd=REPO,
                        env=dict(env),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + START_TIMEOUT
        for proc, spec in zip(procs, specs, strict=True):
            _wait_serving(proc, spec, deadline)
        yield
    finally:
        for proc in procs:
            if proc.poll() is not None:
                continue
            if graceful:
                proc.send_signal(signal.SIGTERM)
            else:
                # The master and its workers at once: their own process group (the
                # session Popen made). gunicorn's quick stop (SIGQUIT) left a worker
                # running, in about one stop in three, until the master killed it 30 s
                # later.
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            _stop(proc)


@contextmanager
def serve_app(app: str, port: int, env: Mapping[str, str], log: Path) -> Iterator[None]:
    """`backupctl serve APP --bind 127.0.0.1:PORT`, configured by `env`."""
    with serving([app_spec(app, port, log)], env):
        yield


@contextmanager
def serve_factory(
    factory: str, port: int, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[None]:
    """The serving command's gunicorn around `module:function` (a test app)."""
    with serving([factory_spec(factory, port, log)], os.environ if env is None else env):
        yield
