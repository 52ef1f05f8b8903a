"""Federation settings, from the same environment as the rest of the configuration.

    BACKUP_FEDERATION_SOCKS            tor's SOCKS for outgoing envelopes: unix:/PATH
                                       (production: the server tor's client socket) or
                                       127.0.0.1:PORT
    BACKUP_FEDERATION_PORT             where `backupctl serve federation` listens on
                                       127.0.0.1 (default 8082); tor forwards to it
    BACKUP_FEDERATION_CLIENT_AUTH_DIR  tor's ClientOnionAuthDir: the keys that open
                                       peers' services (default <services dir>/
                                       federation_clients)
    BACKUP_FEDERATION_TIMEOUT          seconds one delivery may take (default 120)

Our own federation service's directory is `<services dir>/federation` (onion.config).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from federation.errors import FederationError
from federation.identity import FEDERATION_DIR
from onion.config import load_onion_config
from onion.torrc import FEDERATION_SERVICE

__all__ = ["DEFAULT_PORT", "FederationConfig", "load_federation_config"]

DEFAULT_PORT = 8082
CLIENTS_DIR = "federation_clients"


@dataclass(frozen=True)
class FederationConfig:
    key_dir: Path
    service_dir: Path
    client_auth_dir: Path
    socks: tuple[str, int] | None = None
    port: int = DEFAULT_PORT
    timeout: float = 120.0


def _socks(value: str) -> tuple[str, int]:
    if value.startswith("unix:/"):
        return value, 0
    host, _, port = value.rpartition(":")
    if host != "127.0.0.1" or not port.isdigit() or not 0 < int(port) < 65536:
        raise FederationError("BACKUP_FEDERATION_SOCKS must be unix:/PATH or 127.0.0.1:PORT")
    return host, int(port)


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip() or str(default)
    if not text.isdigit() or int(text) == 0:
        raise FederationError(f"{name} must be a positive whole number")
    return int(text)


def load_federation_config(env: Mapping[str, str] | None = None) -> FederationConfig:
    env = os.environ if env is None else env
    onion = load_onion_config(env)
    socks = env.get("BACKUP_FEDERATION_SOCKS", "").strip()
    clients = env.get("BACKUP_FEDERATION_CLIENT_AUTH_DIR", "").strip()
    port = _positive(env, "BACKUP_FEDERATION_PORT", DEFAULT_PORT)
    if port > 65535:
        raise FederationError("BACKUP_FEDERATION_PORT must be a port number")
    return FederationConfig(
        key_dir=onion.instance_dir / FEDERATION_DIR,
        service_dir=onion.onion_dir / FEDERATION_SERVICE,
        client_auth_dir=Path(clients) if clients else onion.onion_dir / CLIENTS_DIR,
        socks=_socks(socks) if socks else None,
        port=port,
        timeout=float(_positive(env, "BACKUP_FEDERATION_TIMEOUT", 120)),
    )
