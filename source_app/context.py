"""Request-scoped access to what the factory built: the runtime, the config, a DB session.

Nothing here is a global: each value is read from the current app or `g`, so several
apps (tests build one per test) never share state.
"""

from __future__ import annotations

from typing import cast

from flask import current_app

from vault.config import Config
from web_shared.context import RUNTIME_KEY, close_db, get_db, get_runtime

__all__ = ["CONFIG_KEY", "RUNTIME_KEY", "close_db", "get_config", "get_db", "get_runtime"]

CONFIG_KEY = "BACKUP_CONFIG"


def get_config() -> Config:
    """The app's config: it governs limits and derivations (the runtime owns resources)."""
    return cast(Config, current_app.config[CONFIG_KEY])
