"""The Tor settings of BackUp, from the same environment as the rest of the configuration.

Only `backupctl` (onion commands, `backupctl run`'s development tor) reads them: the apps
never talk to tor. The apps keep just the onion Host names they answer to
(`vault.config.Config.source_onion_host` / `journalist_onion_host`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vault.config import env_bool, env_path, instance_path

PRODUCTION_SERVICES_DIR = Path("/var/lib/tor/backup")
DEFAULT_CONTROL_SOCKET = Path("/run/tor/control")


@dataclass(frozen=True)
class OnionConfig:
    instance_dir: Path
    production: bool = False
    # Where each service's HiddenServiceDir lives (reviewer keys: journalist/authorized_
    # clients/). Default: <instance>/onion in development, /var/lib/tor/backup in production.
    tor_services_dir: Path | None = None
    tor_control_socket: Path = DEFAULT_CONTROL_SOCKET
    # Development: `backupctl run` starts its own tor unless this is off; extra torrc
    # lines (bridges, a test network) come from `dev_torrc`.
    dev_tor: bool = True
    dev_torrc: Path | None = None
    tor_binary: str | None = None  # None: `tor` on PATH, else /usr/sbin/tor

    @property
    def onion_dir(self) -> Path:
        """The HiddenServiceDirs' parent: `<dir>/source`, `<dir>/journalist`."""
        if self.tor_services_dir is not None:
            return self.tor_services_dir
        return PRODUCTION_SERVICES_DIR if self.production else self.instance_dir / "onion"


def load_onion_config(env: Mapping[str, str] | None = None) -> OnionConfig:
    """The Tor settings from environment variables (`os.environ` by default)."""
    env = os.environ if env is None else env
    return OnionConfig(
        instance_dir=instance_path(env),
        production=env_bool(env, "BACKUP_PRODUCTION", False),
        tor_services_dir=env_path(env, "BACKUP_TOR_SERVICES_DIR"),
        tor_control_socket=env_path(env, "BACKUP_TOR_CONTROL_SOCKET") or DEFAULT_CONTROL_SOCKET,
        dev_tor=env_bool(env, "BACKUP_DEV_TOR", True),
        dev_torrc=env_path(env, "BACKUP_DEV_TORRC"),
        tor_binary=env.get("BACKUP_TOR_BINARY") or None,
    )
