"""Protocols the domain depends on; `keys/` implements them without importing the apps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class SealStream(Protocol):
    """An OpenPGP encryption in progress, writing ciphertext to a file."""

    def write(self, data: bytes) -> int: ...

    def close(self) -> None:
        """Finish the encryption; raises SealError if it failed."""

    def abort(self) -> None:
        """Stop the encryption and discard everything (overwritten, then removed)."""


class Sealer(Protocol):
    """Encrypts to public keys, holds per-source reply keys, decrypts replies for sources."""

    def seal_stream(self, recipients: Sequence[str], output: Path) -> SealStream: ...

    def seal_bytes(self, data: bytes, recipients: Sequence[str]) -> bytes: ...

    def open_bytes(self, ciphertext: bytes, passphrase: str, *, max_output: int = ...) -> bytes:
        """At most `max_output` bytes of plaintext; OutputTooLargeError beyond."""

    def generate_reply_key(self, name: str, passphrase: str) -> str: ...

    def delete_key(self, fingerprint: str) -> None: ...

    def has_public_key(self, fingerprint: str) -> bool: ...
