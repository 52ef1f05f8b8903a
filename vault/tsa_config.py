"""Which time-stamping authorities (TSAs) anchor the chains, and how they are reached.

    BACKUP_TSA_URLS    "name=url" pairs, separated by spaces or commas, e.g.
                       "qualified=http://tsa.example/tsr freetsa=https://freetsa.org/tsr"
    <instance>/tsa/<name>.pem
                       the certificate(s) each TSA's tokens must chain to (its issuing
                       CA, or its own certificate): what is trusted, set by the admin
    BACKUP_TSA_SOCKS   the Tor SOCKS port the requests go through, host:port or
                       unix:/path; required in production (the server makes no
                       clearnet connection of its own)
    BACKUP_TSA_TIMEOUT seconds one request may take (default 60)

None configured: nothing is anchored, and nothing else changes (vault.services.anchors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vault.errors import ConfigError

__all__ = ["TSA_DIR", "TsaConfig", "TsaEntry", "load_tsa_config"]

TSA_DIR = "tsa"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class TsaEntry:
    name: str
    url: str
    certificate: Path


@dataclass(frozen=True)
class TsaConfig:
    authorities: tuple[TsaEntry, ...] = ()
    socks: tuple[str, int] | None = None
    timeout: float = 60.0

    def certificate_pems(self) -> dict[str, bytes]:
        """Each configured TSA's certificate file as it is (those present): what an
        export carries so the workstation and a court can check the tokens."""
        return {
            e.name: e.certificate.read_bytes() for e in self.authorities if e.certificate.is_file()
        }


def _socks(value: str) -> tuple[str, int]:
    if value.startswith("unix:/"):
        return value, 0  # tor's unix SOCKS socket (onion.socks.connect_through)
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("BACKUP_TSA_SOCKS must be host:port or unix:/path (a Tor SOCKS port)")
    return host, int(port)


def _reachable(url: str) -> bool:
    """An http(s) URL with a host and, if any, a valid port: what HttpTsa can connect to
    (checked here, so a typo is refused with the configuration, not a crash of every
    anchoring round)."""
    parts = urlsplit(url)
    try:
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


def load_tsa_config(env: Mapping[str, str], instance_dir: Path) -> TsaConfig:
    entries: list[TsaEntry] = []
    for pair in re.split(r"[\s,]+", env.get("BACKUP_TSA_URLS", "").strip()):
        if not pair:
            continue
        name, sep, url = pair.partition("=")
        if not sep or not _NAME.fullmatch(name) or not _reachable(url):
            # Named by position and name only: the URL may carry credentials.
            shown = repr(name) if sep and _NAME.fullmatch(name) else "an entry"
            raise ConfigError(
                f"BACKUP_TSA_URLS: {shown} (entry {len(entries) + 1}) is not name=http(s)://..."
            )
        if name in {e.name for e in entries}:
            raise ConfigError(f"BACKUP_TSA_URLS: {name} named twice")
        entries.append(TsaEntry(name, url, instance_dir / TSA_DIR / f"{name}.pem"))
    socks = env.get("BACKUP_TSA_SOCKS", "").strip()
    timeout = env.get("BACKUP_TSA_TIMEOUT", "60").strip()
    if not timeout.isdigit() or int(timeout) == 0:
        raise ConfigError("BACKUP_TSA_TIMEOUT must be a positive number of seconds")
    return TsaConfig(tuple(entries), _socks(socks) if socks else None, float(timeout))
