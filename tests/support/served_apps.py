"""The apps as the tests serve them with the serving command (`tests.support.serving`):
the production factories, configured from the environment, with two differences only.

- Everything a worker logs, at every level (DEBUG included, far more than production's
  `warning`), goes to a file of its own in `$BACKUP_TEST_LOG_DIR`, where the tests'
  leak scans read it.
- The reviewer app hashes passphrases with a cheap argon2id (tests.support.journalist),
  as every reviewer test does: the accounts the tests create are hashed so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.serving import runtime_env

if TYPE_CHECKING:
    from flask import Flask

    from vault.config import Config

LOG_DIR_ENV = "BACKUP_TEST_LOG_DIR"


def served_env(config: Config, log_dir: Path, tmp: Path) -> dict[str, str]:
    """The environment of a served app on `config`, logging into `log_dir` and with
    `tmp` as its temp directory (both for the leak scans to search)."""
    return runtime_env(config) | {LOG_DIR_ENV: str(log_dir), "TMPDIR": str(tmp)}


def app_logs(log_dir: Path) -> str:
    """What the apps' workers logged into `log_dir` (gunicorn's own output aside)."""
    return "".join(path.read_text(errors="replace") for path in sorted(log_dir.glob("*-*.log")))


def _log_everything(app: str) -> None:
    log_dir = os.environ.get(LOG_DIR_ENV)
    if not log_dir:
        return
    # One file per worker process: no two processes append to the same file.
    handler = logging.FileHandler(Path(log_dir) / f"{app}-{os.getpid()}.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.getLogger(__name__).info("%s app of worker %d logs here", app, os.getpid())


# Each worker imports only the app it serves: a test starts servers often.


def source() -> Flask:
    import source_app

    _log_everything("source")
    return source_app.create_app()


def journalist() -> Flask:
    import journalist_app
    from tests.support.journalist import FAST_HASHER

    _log_everything("journalist")
    return journalist_app.create_app(hasher=FAST_HASHER)
