"""Both apps served the way production serves them (`backupctl serve`'s gunicorn and
settings, web_shared/serving.py) on a test's Runtime: the same instance directory,
database and Redis, in a subprocess.

Only the argon2id cost is lowered, and the apps' logs can be captured
(`tests.support.wsgi`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

from composition.runtime import Runtime
from tests.support.servers import free_port
from tests.support.serving import factory_spec, serve_factory, serving
from tests.support.wsgi import LOG_DIR_ENV
from vault.config import Config, load_config

_MIB = 1024 * 1024
# Not carried by the environment: each served app loads its own interface's secrets
# from the same instance directory (the test's configuration holds both).
_NOT_COMPARED = ("secrets",)


def served_env(runtime: Runtime) -> dict[str, str]:
    """The environment that makes a subprocess load the same configuration as the
    test's Runtime; a setting the environment cannot carry is an error, not a server
    that silently runs with another value."""
    config = runtime.config
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BACKUP_"))}
    env.update(
        BACKUP_INSTANCE_DIR=str(config.instance_dir),
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url or "",
        BACKUP_SCRYPT_N=str(config.scrypt.n),
        BACKUP_MAX_UPLOAD_BYTES=str(config.max_upload_bytes),
        BACKUP_SOURCE_QUOTA_MIB=str(config.source_quota_bytes // _MIB),
        BACKUP_DISK_RESERVE_MIB=str(config.disk_reserve.bytes // _MIB),
        BACKUP_DISK_RESERVE_PERCENT=str(config.disk_reserve.percent),
        BACKUP_DISK_WATCH=":".join(str(path) for path in config.disk_reserve.watch),
        BACKUP_CODENAME_WORDS=str(config.codename_words),
        BACKUP_SESSION_IDLE_SECONDS=str(config.session_idle_seconds),
        BACKUP_SOURCE_LOGIN_BURST=str(config.source_login_budget.burst),
        BACKUP_SOURCE_LOGIN_INTERVAL_SECONDS=str(config.source_login_budget.interval_seconds),
        BACKUP_REVIEWER_LOGIN_BURST=str(config.reviewer_login_budget.burst),
        BACKUP_REVIEWER_LOGIN_INTERVAL_SECONDS=str(config.reviewer_login_budget.interval_seconds),
        BACKUP_NEW_SOURCES_BURST=str(config.source_create_budget.burst),
        BACKUP_NEW_SOURCES_INTERVAL_SECONDS=str(config.source_create_budget.interval_seconds),
        BACKUP_DEV_TOR="0",
        PYTHONUNBUFFERED="1",
    )
    loaded = load_config(env)
    differ = [
        name
        for name in (f.name for f in fields(Config))
        if name not in _NOT_COMPARED and getattr(loaded, name) != getattr(config, name)
    ]
    if differ:
        raise ValueError(f"a served app cannot be given this test's {differ}")
    return env


@contextmanager
def gunicorn(runtime: Runtime, app: str, log: Path) -> Iterator[str]:
    """Serve `tests.support.wsgi:<app>` on 127.0.0.1; yields its base URL."""
    port = free_port()
    with serve_factory(f"tests.support.wsgi:{app}", port, log, served_env(runtime)):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def serve_apps(
    runtime: Runtime, apps: Sequence[str], log_dir: Path, tmp: Path
) -> Iterator[dict[str, str]]:
    """Serve `tests.support.wsgi:<app>` for each of `apps` on free ports, started in
    parallel; yields each app's base URL. Every level of what the apps log goes into
    `log_dir` (one file per worker, `app_logs`; gunicorn's own output in `<app>.log`),
    and `tmp` is their TMPDIR: both for the leak scans to search. Stopped at once."""
    env = served_env(runtime) | {LOG_DIR_ENV: str(log_dir), "TMPDIR": str(tmp)}
    ports = {app: free_port() for app in apps}
    specs = [
        factory_spec(f"tests.support.wsgi:{app}", port, log_dir / f"{app}.log")
        for app, port in ports.items()
    ]
    with serving(specs, env, graceful=False):
        yield {app: f"http://127.0.0.1:{port}" for app, port in ports.items()}


def app_logs(log_dir: Path) -> str:
    """What the apps' workers logged into `log_dir` (gunicorn's own output aside)."""
    return "".join(path.read_text(errors="replace") for path in sorted(log_dir.glob("*-*.log")))
