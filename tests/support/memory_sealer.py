"""An in-memory twin of the server keyring (vault.ports.Keyring), for unit tests of the
domain's own logic (the store's streaming, naming, abort and sweep) without a gpg-agent.

It really encrypts: AES-256-GCM (the `cryptography` package, already a dependency)
under a random data key per message, that data key wrapped for each recipient's key,
so what reaches the disk is ciphertext and "no plaintext on disk" checks keep their
meaning. It is not OpenPGP and not public-key cryptography: the twin holds every
recipient's key itself; a "secret half" is the same key locked by its passphrase
(scrypt, then AES-GCM). What it keeps of the real adapter's contract: recipients must
exist, a wrong passphrase or a damaged ciphertext raises DecryptionError, more than
`max_output` bytes raises OutputTooLargeError, a failed key operation KeyringError, an
aborted stream's partial file is overwritten before it is removed, and streams report
the size and SHA-256 of the ciphertext they wrote (what the custody receipts need).

Real gpg behaviour (OpenPGP packets, the agent, compression limits) is tested with
real gpg under tests/integration.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keys.gpg_stream import shred_file
from vault.errors import DecryptionError, KeyringError, OutputTooLargeError, SealError
from vault.ports import Keyring, PortableKey, SealStream

__all__ = ["ARMOR_BEGIN", "DEFAULT_MAX_OUTPUT", "MemorySealer", "MemoryStream", "armor"]

MAGIC = b"MEMSEAL1"
DEFAULT_MAX_OUTPUT = 1024 * 1024  # as keys.gpg's: small items are opened in memory
ARMOR_BEGIN = (
    "-----BEGIN PGP MESSAGE-----"  # what replies.store_encrypted_reply checks replies start with
)
ARMOR_END = "-----END PGP MESSAGE-----"
SECRET_BEGIN = "MEMORY LOCKED SECRET KEY"  # the twin's export of a secret half
_NONCE = 12
_TAG = 16
_FPR_BYTES = 20
_WRAPPED = _NONCE + 32 + _TAG  # a data key wrapped for one recipient
_CHUNK = 1024 * 1024


@dataclass
class _Key:
    name: str
    kek: bytes  # what seals to this key (the twin's "public half")
    salt: bytes
    locked: bytes | None  # kek sealed under the passphrase (the "secret half"), if held


def _lock_key(passphrase: str, salt: bytes) -> bytes:
    # Weak scrypt parameters: a test double, fast on purpose.
    return Scrypt(salt=salt, length=32, n=2**4, r=8, p=1).derive(passphrase.encode())


def key_id(fingerprint: str) -> str:
    """The long key id of a twin key: the last 16 hex digits, as OpenPGP v4's."""
    return fingerprint[-16:].upper()


def armor(ciphertext: bytes) -> str:
    """The twin's ciphertext in an armor that reads like OpenPGP's (for replies)."""
    body = base64.encodebytes(ciphertext).decode("ascii")
    return f"{ARMOR_BEGIN}\n\n{body}{ARMOR_END}\n"


def _unarmor(armored: str) -> bytes:
    lines = [line.strip() for line in armored.strip().splitlines()]
    if not lines or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise DecryptionError("not an armored message")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError as exc:
        raise DecryptionError("damaged armor") from exc


def _header(keys: Sequence[tuple[str, bytes]], data_key: bytes) -> bytes:
    parts = [MAGIC, struct.pack(">B", len(keys))]
    for fingerprint, kek in keys:
        nonce = secrets.token_bytes(_NONCE)
        parts += [bytes.fromhex(fingerprint), nonce, AESGCM(kek).encrypt(nonce, data_key, MAGIC)]
    return b"".join(parts)


def _parse(ciphertext: bytes) -> tuple[dict[str, bytes], bytes, bytes, bytes]:
    """(wrapped data key by fingerprint, nonce, body, tag); DecryptionError if malformed."""
    if not ciphertext.startswith(MAGIC) or len(ciphertext) < len(MAGIC) + 1:
        raise DecryptionError("not a sealed message")
    count = ciphertext[len(MAGIC)]
    offset = len(MAGIC) + 1
    wrapped: dict[str, bytes] = {}
    for _ in range(count):
        fingerprint = ciphertext[offset : offset + _FPR_BYTES].hex().upper()
        wrapped[fingerprint] = ciphertext[offset + _FPR_BYTES : offset + _FPR_BYTES + _WRAPPED]
        offset += _FPR_BYTES + _WRAPPED
    nonce = ciphertext[offset : offset + _NONCE]
    body, tag = ciphertext[offset + _NONCE : -_TAG], ciphertext[-_TAG:]
    if len(nonce) != _NONCE or len(tag) != _TAG or count == 0:
        raise DecryptionError("truncated sealed message")
    return wrapped, nonce, body, tag


class MemoryStream:
    """A SealStream: AES-GCM ciphertext of what is written goes to `output` as it comes."""

    def __init__(self, header: bytes, data_key: bytes, output: Path) -> None:
        self._output = output
        self._sink: IO[bytes] = open(output, "xb", buffering=0)
        nonce = secrets.token_bytes(_NONCE)
        self._encryptor = Cipher(algorithms.AES(data_key), modes.GCM(nonce)).encryptor()
        self._digest = hashlib.sha256()
        self.size = 0
        self._closed = False
        self._emit(header + nonce)

    def _emit(self, data: bytes) -> None:
        if self._closed:
            raise SealError("the stream is closed")
        self._sink.write(data)
        self._digest.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, data: bytes) -> int:
        self._emit(self._encryptor.update(bytes(data)))
        return len(data)

    def write_parts(self, parts: Sequence[bytes | memoryview]) -> int:
        return sum(self.write(bytes(part)) for part in parts)

    def close(self) -> None:
        if self._closed:
            return
        self._emit(self._encryptor.finalize() + self._encryptor.tag)
        self._closed = True
        os.fsync(self._sink.fileno())
        self._sink.close()

    def abort(self) -> None:
        self._closed = True
        self._sink.close()
        shred_file(self._output)


class MemorySealer:
    """The twin of keys.gpg.GpgKeyring, as the domain sees it (vault.ports.Keyring)."""

    def __init__(self) -> None:
        self._keys: dict[str, _Key] = {}

    # -- keys -----------------------------------------------------------------------
    def generate_reply_key(self, name: str, passphrase: str) -> str:
        if any(c in name for c in "\r\n\0") or any(c in passphrase for c in "\r\n"):
            raise KeyringError("key name and passphrase must be single lines")
        fingerprint = secrets.token_hex(_FPR_BYTES).upper()
        kek, salt, nonce = (
            secrets.token_bytes(32),
            secrets.token_bytes(16),
            secrets.token_bytes(_NONCE),
        )
        locked = nonce + AESGCM(_lock_key(passphrase, salt)).encrypt(nonce, kek, None)
        self._keys[fingerprint] = _Key(name, kek, salt, locked)
        return fingerprint

    def delete_key(self, fingerprint: str) -> None:
        self._keys.pop(fingerprint.upper(), None)

    def has_public_key(self, fingerprint: str) -> bool:
        return fingerprint.upper() in self._keys

    def has_secret_key(self, fingerprint: str) -> bool:
        key = self._keys.get(fingerprint.upper())
        return key is not None and key.locked is not None

    def key_ids(self, fingerprint: str) -> set[str]:
        return {key_id(fingerprint)} if self.has_public_key(fingerprint) else set()

    def export_public(self, fingerprint: str) -> str:
        key = self._keys.get(fingerprint.upper())
        if key is None:
            raise KeyringError("no such public key")
        return f"memory public key {fingerprint.upper()} {key.name}\n"

    def holding(self, fingerprints: Iterable[str]) -> set[str]:
        return {fp.upper() for fp in fingerprints if fp and fp.upper() in self._keys}

    def named(self, name: str, *, older_than: float = 0.0) -> set[str]:
        return {fingerprint for fingerprint, key in self._keys.items() if key.name == name}

    # -- portable keys (vault.ports.PortableReplyKeys) --------------------------------
    def export_secret(self, fingerprint: str, passphrase: str) -> str:
        """The key as the twin exports it: still locked (kek only under the passphrase,
        which must open it, as gpg's export asks)."""
        key = self._keys.get(fingerprint.upper())
        if key is None or key.locked is None:
            raise KeyringError("could not export secret key")
        try:
            lock = AESGCM(_lock_key(passphrase, key.salt))
            lock.decrypt(key.locked[:_NONCE], key.locked[_NONCE:], None)
        except InvalidTag as exc:
            raise KeyringError("could not export secret key") from exc
        fields = [
            fingerprint.upper(),
            key.name,
            *(base64.b64encode(v).decode() for v in (key.salt, key.locked)),
        ]
        return f"{SECRET_BEGIN}\n" + "\n".join(fields) + "\n"

    def generate_portable_key(self, name: str, passphrase: str) -> PortableKey:
        fingerprint = self.generate_reply_key(name, passphrase)
        secret = self.export_secret(fingerprint, passphrase)
        self._keys[fingerprint].locked = None  # the home keeps the public half only
        return PortableKey(fingerprint, self.export_public(fingerprint), secret)

    @contextmanager
    def borrowed_key(self, fingerprint: str, secret: str) -> Iterator[MemorySealer]:
        lines = secret.strip().splitlines()
        if len(lines) != 5 or lines[0] != SECRET_BEGIN or lines[1] != fingerprint.upper():
            raise KeyringError("not the secret key asked for")
        known = self._keys.get(fingerprint.upper())
        if known is None:
            raise KeyringError("no such public key")
        salt, locked = (base64.b64decode(v) for v in lines[3:5])
        borrowed = MemorySealer()
        borrowed._keys[fingerprint.upper()] = _Key(lines[2], known.kek, salt, locked)
        yield borrowed

    # -- sealing --------------------------------------------------------------------
    def _recipients(self, recipients: Sequence[str]) -> list[tuple[str, bytes]]:
        if not recipients:
            raise SealError("no recipient")
        found = []
        for fingerprint in recipients:
            key = self._keys.get(fingerprint.upper())
            if key is None:
                raise SealError(f"no public key {fingerprint}")
            found.append((fingerprint.upper(), key.kek))
        return found

    def seal_stream(self, recipients: Sequence[str], output: Path) -> MemoryStream:
        keys = self._recipients(recipients)
        data_key = AESGCM.generate_key(bit_length=256)
        return MemoryStream(_header(keys, data_key), data_key, output)

    def seal_bytes(self, data: bytes, recipients: Sequence[str]) -> bytes:
        keys = self._recipients(recipients)
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(_NONCE)
        return _header(keys, data_key) + nonce + AESGCM(data_key).encrypt(nonce, data, None)

    def open_bytes(
        self, ciphertext: bytes, passphrase: str, *, max_output: int = DEFAULT_MAX_OUTPUT
    ) -> bytes:
        if max_output < 1:
            raise ValueError("max_output must be positive")
        wrapped, nonce, body, tag = _parse(ciphertext)
        for fingerprint, sealed_key in wrapped.items():
            key = self._keys.get(fingerprint)
            if key is None or key.locked is None:
                continue
            try:
                lock = AESGCM(_lock_key(passphrase, key.salt))
                kek = lock.decrypt(key.locked[:_NONCE], key.locked[_NONCE:], None)
                data_key = AESGCM(kek).decrypt(sealed_key[:_NONCE], sealed_key[_NONCE:], MAGIC)
                plaintext = AESGCM(data_key).decrypt(nonce, body + tag, None)
            except InvalidTag:
                continue
            if len(plaintext) > max_output:
                raise OutputTooLargeError("plaintext over the limit")
            return plaintext
        raise DecryptionError("decryption failed: no key opens it with this passphrase")

    def recipients_of(self, armored: str) -> set[str]:
        """Like gpg's: nothing named (an empty set) for what is not a sealed message."""
        try:
            wrapped, _, _, _ = _parse(_unarmor(armored))
        except DecryptionError:
            return set()
        return {key_id(fingerprint) for fingerprint in wrapped}


def as_port(sealer: MemorySealer) -> Keyring:
    """The twin typed as the port: mypy checks here that it conforms (tests/ are out of
    the project-wide mypy run; tests/unit/support/test_memory_sealer.py runs mypy on
    this file)."""
    return sealer


def as_stream(stream: MemoryStream) -> SealStream:
    return stream
