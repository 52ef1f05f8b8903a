"""This instance's federation identity: what peers check our envelopes against, and
what opens their onion services to us.

Two keys, in `<instance>/federation/` (0700), each file 0600:

- `signing_key.pem`: Ed25519 (`keys.receipts.SigningKey`, the library `cryptography`),
  signs every envelope we send. Ed25519 rather than an OpenPGP key: an envelope is a
  small JSON object signed per message, unattended, by a command; a 64-byte signature
  over canonical bytes needs no gpg home, no agent and no keyring state, and any
  language checks it with its standard crypto library. The fingerprint peers compare is
  the SHA-256 of the 32 raw public bytes (64 hex digits), as for the receipt key.
  Only `backupctl federation` (sending) reads it; the endpoint that receives never
  does: it reads `signing_key.pub.pem` only, to know its own fingerprint.
- `client_auth.key`: an x25519 private key (base32), whose public half each peer
  installs among the authorized clients of its federation onion service. Its private
  half never leaves this instance; `peer add` writes it, with the peer's address, into
  our tor's ClientOnionAuthDir.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.errors import IdentityError
from keys.errors import KeyOperationError
from keys.receipts import SigningKey, VerifyKey

__all__ = [
    "CLIENT_AUTH_FILE",
    "FEDERATION_DIR",
    "PUBLIC_KEY_FILE",
    "SIGNING_KEY_FILE",
    "ClientAuthKey",
    "Identity",
    "create_identity",
    "load_identity",
    "own_fingerprint",
]

FEDERATION_DIR = "federation"
SIGNING_KEY_FILE = "signing_key.pem"
PUBLIC_KEY_FILE = "signing_key.pub.pem"
CLIENT_AUTH_FILE = "client_auth.key"


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class ClientAuthKey:
    private_b32: str

    @property
    def public_b32(self) -> str:
        raw = base64.b32decode(self.private_b32 + "====")
        key = X25519PrivateKey.from_private_bytes(raw)
        return _b32(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def __repr__(self) -> str:  # the private half never in a traceback or a log
        return f"ClientAuthKey(public_b32={self.public_b32!r})"


@dataclass(frozen=True)
class Identity:
    signing: SigningKey
    client_auth: ClientAuthKey

    @property
    def fingerprint(self) -> str:
        return self.signing.fingerprint

    def public_pem(self) -> str:
        return self.signing.verify_key.pem()


def _check_private(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        raise IdentityError(f"{path}: readable by others (chmod 600)")


def create_identity(directory: Path) -> Identity:
    """Make both keys (exclusively: an existing identity is never overwritten)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (directory / SIGNING_KEY_FILE).exists() or (directory / CLIENT_AUTH_FILE).exists():
        raise IdentityError(f"{directory} holds a federation identity already")
    signing = SigningKey.generate(directory / SIGNING_KEY_FILE)
    raw = X25519PrivateKey.generate().private_bytes_raw()
    client = ClientAuthKey(_b32(raw))
    fd = os.open(directory / CLIENT_AUTH_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(client.private_b32 + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    (directory / PUBLIC_KEY_FILE).write_text(signing.verify_key.pem())
    return Identity(signing, client)


def load_identity(directory: Path) -> Identity:
    """Both keys; IdentityError when absent (`backupctl federation identity --create`)
    or readable by others."""
    signing_path, client_path = directory / SIGNING_KEY_FILE, directory / CLIENT_AUTH_FILE
    if not signing_path.exists() or not client_path.exists():
        raise IdentityError(
            "this instance has no federation identity: `backupctl federation identity --create`"
        )
    _check_private(client_path)
    try:
        signing = SigningKey.load(signing_path)
    except KeyOperationError as exc:
        raise IdentityError(str(exc)) from exc
    return Identity(signing, ClientAuthKey(client_path.read_text().strip()))


def own_fingerprint(directory: Path) -> str:
    """Our fingerprint from the public half alone (what the receiving endpoint reads)."""
    try:
        return VerifyKey.from_pem((directory / PUBLIC_KEY_FILE).read_text()).fingerprint
    except (OSError, KeyOperationError) as exc:
        raise IdentityError(f"no federation public key in {directory}") from exc
