"""Both apps served by real gunicorn (gthread workers, as `backupctl run` serves them) on
a test's Runtime: the same instance directory, database and Redis, in a subprocess.

Only the argon2id cost is lowered (`tests.support.wsgi`). Until a common serving command
exists, the worker model here follows `backupctl run`'s gunicorn command line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.servers import free_port
from vault.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def served_env(runtime: Runtime) -> dict[str, str]:
    """The environment that makes a subprocess load the same configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BACKUP_"))}
    env.update(
        BACKUP_INSTANCE_DIR=str(runtime.config.instance_dir),
        DATABASE_URL=runtime.config.database_url,
        REDIS_URL=runtime.config.redis_url or "",
        BACKUP_SCRYPT_N=str(runtime.config.scrypt.n),
        BACKUP_DEV_TOR="0",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def gunicorn(
    runtime: Runtime, app: str, log: Path, *, workers: int = 2, threads: int = 4
) -> Iterator[str]:
    """Serve `tests.support.wsgi:<app>()` on 127.0.0.1; yields its base URL."""
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread",
        "--workers", str(workers),
        "--threads", str(threads),
        "--graceful-timeout", "5",
        "--error-logfile", "-",
        f"tests.support.wsgi:{app}()",
    ]  # fmt: skip
    with open(log, "wb") as output:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=served_env(runtime), stdout=output, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(proc, url, log)
            yield url
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_serving(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{log.read_text()}")
        try:
            requests.get(url + "/", timeout=5, allow_redirects=False)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve within {START_TIMEOUT}s:\n{log.read_text()}")
