"""Protocols the domain depends on; `keys/` implements them without importing the apps.

vault never imports `keys`: it types against these, and the composition root hands it
the real adapters (`keys.gpg.GpgKeyring`, `keys.receipts.SigningKey` and
`keys.receipts.TrustedKeys`). The errors a port raises are the domain's own, from
`vault.errors` (SealError, DecryptionError, OutputTooLargeError, KeyringError,
ChainError), so the domain can name what it catches without knowing who raised it: an
adapter raises these, never its own package's errors, from a port's methods.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# The custody chain's format, shared by the domain (it writes the server's chain) and
# the signer (keys.receipts, which also verifies the workstation's chain).
# `prev` of a chain's first record:
GENESIS = "0" * 64
# A record of this kind, signed by the outgoing key, hands the chain over to `new_key`
# (its PEM in `new_key_pem`): from then on only the new key may sign.
KEY_ROTATION = "receipt-key-rotation"
# What a time-stamp anchors (vault.services.anchors): a chain's head, as these bytes.
ANCHOR_FORMAT = "backup-anchor/1"


def anchor_message(chain: str, seq: int, chain_hash: str) -> bytes:
    """The bytes a time-stamping authority signs the SHA-256 of, for the link `seq` of
    `chain` ("custody" or "audit") whose hash is `chain_hash`: position and hash, so a
    token names one place in one chain."""
    return f"{ANCHOR_FORMAT}\n{chain}\n{seq}\n{chain_hash}\n".encode("ascii")


class SealStream(Protocol):
    """An OpenPGP encryption in progress, writing ciphertext to a file."""

    def write(self, data: bytes) -> int: ...

    def close(self) -> None:
        """Finish the encryption; raises SealError if it failed."""

    def abort(self) -> None:
        """Stop the encryption and discard everything (overwritten, then removed)."""


class Sealer(Protocol):
    """Encrypts to public keys, decrypts small items (replies, notes) in memory."""

    def seal_stream(self, recipients: Sequence[str], output: Path) -> SealStream: ...

    def seal_bytes(self, data: bytes, recipients: Sequence[str]) -> bytes:
        """The ciphertext of `data` to every recipient; raises SealError."""

    def open_bytes(self, ciphertext: bytes, passphrase: str, *, max_output: int = ...) -> bytes:
        """At most `max_output` bytes of plaintext; OutputTooLargeError beyond,
        DecryptionError for anything else that went wrong."""


class ReplyKeys(Protocol):
    """The keys the keyring holds: per-source reply keys, reviewers' account keys.

    A key operation that fails raises KeyringError."""

    def generate_reply_key(self, name: str, passphrase: str) -> str:
        """A new keypair, its secret half locked with `passphrase`; its fingerprint."""

    def delete_key(self, fingerprint: str) -> None:
        """Remove both halves of a key; a missing key is not an error."""

    def has_public_key(self, fingerprint: str) -> bool: ...

    def has_secret_key(self, fingerprint: str) -> bool: ...

    def key_ids(self, fingerprint: str) -> set[str]:
        """The long key ids (upper case) of a key and its subkeys."""

    def holding(self, fingerprints: Iterable[str]) -> set[str]:
        """Those of `fingerprints` this home holds any part of (cheap: no gpg per key)."""

    def named(self, name: str, *, older_than: float = 0.0) -> set[str]:
        """The fingerprints of the keys held whose one user id is `name`, left
        unchanged for more than `older_than` seconds."""


@dataclass(frozen=True)
class PortableKey:
    """A key pair made to be kept outside any GnuPG home: its fingerprint, its public
    half (armored) and its secret half as gpg exports it (armored, still locked by the
    passphrase it was made with)."""

    fingerprint: str
    public: str
    secret: str

    def __repr__(self) -> str:  # the locked secret half stays out of tracebacks too
        return f"PortableKey({self.fingerprint})"


class Opener(Protocol):
    """Opens small sealed items (replies, consent states) in memory."""

    def open_bytes(self, ciphertext: bytes, passphrase: str, *, max_output: int = ...) -> bytes:
        """As `Sealer.open_bytes`."""


class PortableReplyKeys(Protocol):
    """Sources' reply keys, kept in the database so every server opens replies with
    them (vault.services.reply_keys). A key operation that fails raises KeyringError."""

    def generate_portable_key(self, name: str, passphrase: str) -> PortableKey:
        """A new key pair, its secret half locked with `passphrase`; the home keeps the
        public half only."""

    def borrowed_key(self, fingerprint: str, secret: str) -> AbstractContextManager[Opener]:
        """An Opener holding the exported secret half `secret` of `fingerprint` for the
        `with` block only (no GnuPG home keeps it)."""

    def export_secret(self, fingerprint: str, passphrase: str) -> str:
        """The secret half of a key this home holds, armored, locked by `passphrase`
        (which it must open)."""


class PublicKeyExport(Protocol):
    """Export of a public key, armored; KeyringError if the keyring has no such key."""

    def export_public(self, fingerprint: str) -> str: ...


class CiphertextRecipients(Protocol):
    """Who a ciphertext is encrypted to, read from its session key packets."""

    def recipients_of(self, armored: str) -> set[str]:
        """The long key ids (upper case) an armored OpenPGP message names."""


class Keyring(
    Sealer, ReplyKeys, PortableReplyKeys, PublicKeyExport, CiphertextRecipients, Protocol
):
    """Everything the domain asks of the server keyring (`keys.gpg.GpgKeyring`)."""


class ChainRecord(Protocol):
    """One signed record of a chain: its body and signature (base64)."""

    @property
    def body(self) -> Mapping[str, Any]: ...

    @property
    def signature(self) -> str: ...

    @property
    def hash(self) -> str:
        """SHA-256 (hex) of the body's canonical bytes: what the next record links to."""


class ReceiptPublicKey(Protocol):
    """The public half of a receipt key."""

    @property
    def fingerprint(self) -> str: ...

    def pem(self) -> str: ...


@runtime_checkable
class ReceiptSigner(Protocol):
    """The instance's receipt key: signs custody receipts."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def verify_key(self) -> ReceiptPublicKey: ...

    def sign(self, data: bytes) -> bytes:
        """A detached signature over exactly `data` (an export's manifest)."""

    def sign_record(self, body: Mapping[str, Any]) -> ChainRecord:
        """`body` signed over its canonical bytes: the next record of a chain."""


class ChainVerifier(Protocol):
    """Trusted receipt public keys that check a chain of signed records."""

    def verify(
        self,
        records: Sequence[tuple[Mapping[str, Any], str]],
        label: str,
        *,
        start_prev: str | None = None,
    ) -> list[str]:
        """Check every (body, signature) and every link; the hash of each body, in order.

        Raises ChainError naming the record and what is wrong."""


@dataclass(frozen=True)
class Stamp:
    """An RFC 3161 time-stamp response (DER) and the time the authority put in it (UTC)."""

    token: bytes
    gen_time: dt.datetime


class TimestampAuthority(Protocol):
    """One time-stamping authority the admin configured (`keys.timestamps.HttpTsa`)."""

    @property
    def name(self) -> str:
        """The name the admin gave it (BACKUP_TSA_URLS), kept with each of its tokens."""

    def stamp(self, message: bytes) -> Stamp:
        """Have `message` time-stamped; the response is verified (nonce, data covered,
        signature chaining to the configured certificate) before it is returned.

        Raises TimestampError naming what failed (unreachable, refused, not verifying)."""
