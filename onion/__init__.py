"""Tor for BackUp, through stem: never imports Flask or the apps.

- `torrc`: the production torrc (v3 services, client auth, PoW, stream limits), checked
  with `tor --verify-config`;
- `dev`: development onion services on a tor that `backupctl run` owns, persistent keys;
- `clientauth`: reviewer x25519 client-authorization keys;
- `health`: descriptor published? service answering through Tor?
- `tor`, `control`, `socks`: a tor process of our own, its control socket, SOCKS5.
"""

from onion.errors import (
    ClientAuthError,
    OnionError,
    TorConfigError,
    TorNotFoundError,
    TorStartError,
)

__all__ = [
    "ClientAuthError",
    "OnionError",
    "TorConfigError",
    "TorNotFoundError",
    "TorStartError",
]
