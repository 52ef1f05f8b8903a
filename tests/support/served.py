"""Both apps served the way production serves them (`backupctl serve`'s gunicorn and
settings, webcore/serving.py) on a test's Runtime: the same instance directory,
database and Redis, in a subprocess.

Only the argon2id cost is lowered (`tests.support.wsgi`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import free_port
from tests.support.serving import serve_factory
from vault.runtime import Runtime


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
def gunicorn(runtime: Runtime, app: str, log: Path) -> Iterator[str]:
    """Serve `tests.support.wsgi:<app>` on 127.0.0.1; yields its base URL."""
    port = free_port()
    with serve_factory(f"tests.support.wsgi:{app}", port, log, served_env(runtime)):
        yield f"http://127.0.0.1:{port}"
