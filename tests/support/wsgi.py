"""WSGI entry points for tests that serve the apps with the serving command's gunicorn
(`tests.support.served`): the production factories, configured from the environment,
with two differences only.

- The reviewer app hashes passphrases with a cheap argon2id (tests.support.journalist),
  as every reviewer test does: the accounts the tests create are hashed so.
- With `$BACKUP_TEST_LOG_DIR` set, everything a worker logs, at every level (DEBUG
  included, far more than production's `warning`), goes to a file of its own there,
  where the tests' leak scans read it.

Each worker imports only the app it serves: tests start servers often.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

LOG_DIR_ENV = "BACKUP_TEST_LOG_DIR"


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


def journalist() -> Flask:
    import journalist_app
    from tests.support.journalist import FAST_HASHER

    _log_everything("journalist")
    return journalist_app.create_app(hasher=FAST_HASHER)


def source() -> Flask:
    import source_app

    _log_everything("source")
    return source_app.create_app()
