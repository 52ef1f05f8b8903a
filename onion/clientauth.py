"""v3 client authorization for the reviewer service: x25519 key pairs, one per workstation.

The service keeps `<HiddenServiceDir>/authorized_clients/<name>.auth` (the public half);
the reviewer's Tor Browser gets the `.auth_private` line (the private half), printed once
and never stored on the server. Tor serves the descriptor only to listed keys.

Danger: a v3 service whose authorized_clients/ is empty is PUBLIC. `lock()` therefore
keeps one key whose private half was thrown away at creation, so revoking the last real
reviewer leaves the service closed to everyone rather than open to everyone.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from onion.errors import ClientAuthError

__all__ = [
    "AUTHORIZED_CLIENTS",
    "LOCK_NAME",
    "ClientKey",
    "add_client",
    "auth_private_line",
    "authorize_public",
    "forget_service_key",
    "hold_service_key",
    "is_locked",
    "list_clients",
    "lock",
    "onion_address",
    "revoke_client",
]

AUTHORIZED_CLIENTS = "authorized_clients"
LOCK_NAME = "_nobody"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ADDRESS_RE = re.compile(r"^[a-z2-7]{56}\.onion$")
_KEY_RE = re.compile(r"^[A-Z2-7]{52}$")  # 32 bytes, base32 without padding


@dataclass(frozen=True)
class ClientKey:
    """A fresh key pair; `private_b32` must go to the reviewer and nowhere else."""

    name: str
    public_b32: str
    private_b32: str = ""

    def __repr__(self) -> str:  # the private half never in a traceback or log
        return f"ClientKey(name={self.name!r}, public_b32={self.public_b32!r})"


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def generate(name: str) -> ClientKey:
    key = X25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return ClientKey(name=name, public_b32=_b32(public), private_b32=_b32(private))


def _check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or name == LOCK_NAME:
        raise ClientAuthError(
            f"invalid reviewer key name {name!r}: lowercase letters, digits, - and _ "
            "(at most 63), starting with a letter or digit"
        )
    return name


def onion_address(service_dir: Path) -> str:
    """The service's address, from the `hostname` file tor writes into its directory."""
    try:
        address = (service_dir / "hostname").read_text().strip()
    except OSError as exc:
        raise ClientAuthError(
            f"no onion address in {service_dir} (has tor started with this service?)"
        ) from exc
    if not _ADDRESS_RE.fullmatch(address):
        raise ClientAuthError(f"{service_dir}/hostname holds no v3 onion address")
    return address


def auth_private_line(address: str, key: ClientKey) -> str:
    """The line Tor Browser (or ClientOnionAuthDir/<x>.auth_private) takes."""
    if not key.private_b32:
        raise ClientAuthError("this key has no private half")
    return f"{address.removesuffix('.onion')}:descriptor:x25519:{key.private_b32}"


def _write_new(path: Path, text: str) -> None:
    # O_EXCL: never overwrite a reviewer's key by re-using a name by mistake.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ClientAuthError(f"a key named {path.stem!r} already exists") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    _owned_like_parent(path)


def _owned_like_parent(path: Path) -> None:
    """Give `path` to whoever owns its directory. tor drops to its own user (debian-tor)
    and must read the keys an admin writes as root; a root-owned 0600 file would make it
    fail to reload."""
    parent = path.parent.stat()
    if os.geteuid() == 0 and (parent.st_uid, parent.st_gid) != (0, 0):
        os.chown(path, parent.st_uid, parent.st_gid)


def _clients_dir(service_dir: Path) -> Path:
    path = service_dir / AUTHORIZED_CLIENTS
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True)
        _owned_like_parent(path)
    return path


def lock(service_dir: Path) -> None:
    """Make sure the service is never public: install the key nobody holds, once."""
    path = _clients_dir(service_dir) / f"{LOCK_NAME}.auth"
    if not path.exists():
        _write_new(path, f"descriptor:x25519:{generate(LOCK_NAME).public_b32}\n")


def is_locked(service_dir: Path) -> bool:
    """Whether tor will demand client authorization: at least one key is installed."""
    return any((service_dir / AUTHORIZED_CLIENTS).glob("*.auth"))


def add_client(service_dir: Path, name: str) -> ClientKey:
    """Create a key pair for reviewer workstation `name` and install its public half.

    tor must reload (SIGHUP) to publish a descriptor for the new key.
    """
    key = generate(_check_name(name))
    lock(service_dir)
    _write_new(_clients_dir(service_dir) / f"{name}.auth", f"descriptor:x25519:{key.public_b32}\n")
    return key


def authorize_public(service_dir: Path, name: str, public_b32: str) -> ClientKey:
    """Install a public half someone else made (a peer instance keeps its private half:
    it never crosses between instances). tor must reload, as for `add_client`."""
    if not _KEY_RE.fullmatch(public_b32):
        raise ClientAuthError("not an x25519 public key in base32 (52 characters)")
    lock(service_dir)
    path = _clients_dir(service_dir) / f"{_check_name(name)}.auth"
    _write_new(path, f"descriptor:x25519:{public_b32}\n")
    return ClientKey(name=name, public_b32=public_b32)


def hold_service_key(auth_dir: Path, name: str, address: str, private_b32: str) -> None:
    """Put the key that opens another's client-authorized service `address` into our
    tor's ClientOnionAuthDir (`<name>.auth_private`, 0600)."""
    if not _ADDRESS_RE.fullmatch(address):
        raise ClientAuthError(f"not a v3 onion address: {address!r}")
    if not _KEY_RE.fullmatch(private_b32):
        raise ClientAuthError("not an x25519 private key in base32")
    if not auth_dir.is_dir():
        auth_dir.mkdir(mode=0o700, parents=True)
        _owned_like_parent(auth_dir)
    line = f"{address.removesuffix('.onion')}:descriptor:x25519:{private_b32}\n"
    _write_new(auth_dir / f"{_check_name(name)}.auth_private", line)


def forget_service_key(auth_dir: Path, name: str) -> bool:
    """Remove `<name>.auth_private` from our ClientOnionAuthDir; whether it was there."""
    path = auth_dir / f"{_check_name(name)}.auth_private"
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def revoke_client(service_dir: Path, name: str) -> None:
    """Remove the public half; after tor reloads, that key no longer opens the service."""
    path = _clients_dir(service_dir) / f"{_check_name(name)}.auth"
    lock(service_dir)  # before the removal: never an empty, hence public, list
    try:
        path.unlink()
    except FileNotFoundError as exc:
        raise ClientAuthError(f"no reviewer key named {name!r}") from exc


def list_clients(service_dir: Path) -> list[ClientKey]:
    """The installed reviewer keys (public halves), the lock key excepted."""
    clients = []
    for path in sorted(_clients_dir(service_dir).glob("*.auth")):
        if path.stem == LOCK_NAME:
            continue
        public = path.read_text().strip().rsplit(":", 1)[-1]
        clients.append(ClientKey(name=path.stem, public_b32=public))
    return clients
