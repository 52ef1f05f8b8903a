"""Ed25519 signing keys and hash-chained, signed records: pure logic, public keys only
to verify.

Two chains use this module: the server's custody receipts (signed by the instance's
receipt key) and the workstation's custody log (signed by the workstation's key). A
record is a canonical JSON body (sorted keys, no spaces, UTF-8) and a signature over
exactly those bytes. Each body carries `seq` (0, 1, 2... without gaps) and `prev`, the
SHA-256 of the previous body (64 zeros for the first), so dropping, reordering or
editing any record breaks either a signature or a link, and `verify_chain` says which.

Why JSON and not a binary format: a court's expert must be able to re-check a receipt
with any language's standard library, reading the rules in docs/workstation.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from keys.errors import KeyOperationError
from vault.errors import ChainError
from vault.ports import GENESIS, KEY_ROTATION

__all__ = [
    "GENESIS",
    "KEY_ROTATION",
    "RECEIPT_KEY_FILE",
    "ChainError",
    "SignedRecord",
    "SigningKey",
    "TrustedKeys",
    "VerifyKey",
    "body_hash",
    "canonical",
    "verify_chain",
]

RECEIPT_KEY_FILE = "receipt_key.pem"
# GENESIS (`prev` of a first record) and KEY_ROTATION (the kind of a record handing the
# chain over to `new_key`, its PEM in `new_key_pem`) are the domain's, in vault.ports.


def canonical(body: Mapping[str, Any]) -> bytes:
    """The exact bytes that are hashed and signed."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def body_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


def _fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest().upper()


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key; its fingerprint is the SHA-256 of its 32 raw bytes."""

    public: Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.public)

    def pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @classmethod
    def from_pem(cls, pem: str | bytes) -> VerifyKey:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise KeyOperationError("not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyOperationError("not an Ed25519 public key")
        return cls(key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.public.verify(signature, data)
        except InvalidSignature:
            return False
        return True


class SigningKey:
    """An Ed25519 private key kept in one PEM file (0600)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.verify_key = VerifyKey(private.public_key())

    @property
    def fingerprint(self) -> str:
        return self.verify_key.fingerprint

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def sign_record(self, body: Mapping[str, Any]) -> SignedRecord:
        """`body` signed by this key (vault.ports.ReceiptSigner)."""
        return SignedRecord.sign(self, body)

    @classmethod
    def generate(cls, path: Path, passphrase: bytes | None = None) -> SigningKey:
        """A new key written exclusively to `path`, 0600 (never overwrites a key)."""
        private = Ed25519PrivateKey.generate()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return cls(private)

    @classmethod
    def load(cls, path: Path, passphrase: bytes | None = None) -> SigningKey:
        # Group read is the one thing allowed beyond the owner: a deployment that runs
        # each process as its own user gives the receipt key to the group of the ones
        # that sign receipts (ansible/, docs/deploy.md), 0640, root's.
        mode = path.stat().st_mode
        if mode & 0o007:
            raise KeyOperationError(f"{path}: signing key readable by others (chmod 600)")
        if mode & 0o030:
            raise KeyOperationError(f"{path}: signing key writable by its group (chmod 600)")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyOperationError(f"{path}: cannot load signing key (passphrase?)") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyOperationError(f"{path}: not an Ed25519 key")
        return cls(private)

    @classmethod
    def load_or_generate(cls, path: Path) -> SigningKey:
        """The server's receipt key: made on first use, unattended (so unencrypted).

        An existing key is loaded without trying to make one first: a deployment makes it
        in advance, in a directory its readers may not write (docs/deploy.md).
        """
        try:
            return cls.load(path)
        except FileNotFoundError:
            pass
        try:
            return cls.generate(path)
        except FileExistsError:
            return cls.load(path)


class ReceiptKeyFile:
    """The server's receipt key, read (or made) at its first use, then kept.

    A process that never signs a receipt (the worker, its timers' jobs) never reads the
    file, so a deployment can keep it from them (vault.ports.ReceiptSigner).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: SigningKey | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ReceiptKeyFile({self.path})"

    def key(self) -> SigningKey:
        with self._lock:
            if self._key is None:
                self._key = SigningKey.load_or_generate(self.path)
            return self._key

    @property
    def fingerprint(self) -> str:
        return self.key().fingerprint

    @property
    def verify_key(self) -> VerifyKey:
        return self.key().verify_key

    def sign(self, data: bytes) -> bytes:
        return self.key().sign(data)

    def sign_record(self, body: Mapping[str, Any]) -> SignedRecord:
        return self.key().sign_record(body)


@dataclass(frozen=True)
class SignedRecord:
    """One link of a chain: its body and the signature over `canonical(body)`."""

    body: Mapping[str, Any]
    signature: str  # base64

    @property
    def hash(self) -> str:
        return body_hash(self.body)

    @classmethod
    def sign(cls, key: SigningKey, body: Mapping[str, Any]) -> SignedRecord:
        signature = base64.b64encode(key.sign(canonical(body))).decode("ascii")
        return cls(dict(body), signature)

    def to_json(self) -> str:
        return json.dumps({"body": self.body, "sig": self.signature}, sort_keys=True)

    @classmethod
    def from_json(cls, line: str, label: str) -> SignedRecord:
        try:
            data = json.loads(line)
            body, signature = data["body"], data["sig"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChainError(f"{label}: not a signed record") from exc
        if not isinstance(body, dict) or not isinstance(signature, str):
            raise ChainError(f"{label}: not a signed record")
        return cls(body, signature)

    def verify(self, key: VerifyKey, label: str) -> None:
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError as exc:
            raise ChainError(f"{label}: signature is not base64") from exc
        if not key.verify(signature, canonical(self.body)):
            raise ChainError(f"{label}: bad signature (edited, or signed by another key)")


def _successor(record: SignedRecord, where: str) -> VerifyKey:
    try:
        successor = VerifyKey.from_pem(str(record.body.get("new_key_pem", "")))
    except KeyOperationError as exc:
        raise ChainError(f"{where}: key rotation without a valid new key") from exc
    if successor.fingerprint != record.body.get("new_key"):
        raise ChainError(f"{where}: key rotation names a key it does not carry")
    return successor


def verify_chain(
    records: Sequence[SignedRecord],
    keys: Iterable[VerifyKey],
    label: str,
    *,
    start_prev: str | None = None,
) -> None:
    """Check every signature and link of a contiguous segment of a chain.

    `keys`: the trusted public keys; a record's `key` field names which one signed it.
    A KEY_ROTATION record signed by a trusted key adds the key it names and retires the
    signer: a record the retired key signs after its handover is refused.
    `start_prev`: the hash the first record must link to (GENESIS for a whole chain);
    None accepts a segment starting anywhere, its first link vouched for by its
    signature alone.

    Raises ChainError naming the record (by position and seq) and what is wrong.
    """
    trusted = {key.fingerprint: key for key in keys}
    retired: set[str] = set()
    previous: SignedRecord | None = None
    for index, record in enumerate(records):
        where = f"{label} record #{index + 1} (seq {record.body.get('seq')})"
        signer = str(record.body.get("key", ""))
        key = trusted.get(signer)
        if key is None:
            raise ChainError(f"{where}: signed by an unknown key {record.body.get('key')}")
        if signer in retired:
            raise ChainError(f"{where}: signed by key {signer} after it was rotated out")
        record.verify(key, where)
        if record.body.get("kind") == KEY_ROTATION:
            successor = _successor(record, where)
            trusted[successor.fingerprint] = successor
            retired.add(signer)
        seq = record.body.get("seq")
        if not isinstance(seq, int):
            raise ChainError(f"{where}: no sequence number")
        if previous is None:
            if start_prev is not None and record.body.get("prev") != start_prev:
                raise ChainError(f"{where}: does not start the chain")
            if start_prev == GENESIS and seq != 0:
                raise ChainError(f"{where}: the chain does not start at seq 0")
        else:
            expected = int(previous.body["seq"]) + 1
            if seq != expected:
                raise ChainError(
                    f"{where}: expected seq {expected}: a record is missing or out of order"
                )
            if record.body.get("prev") != previous.hash:
                raise ChainError(f"{where}: does not link to the record before it")
        previous = record


class TrustedKeys:
    """Receipt public keys trusted to have signed a chain (vault.ports.ChainVerifier)."""

    def __init__(self, keys: Iterable[VerifyKey]) -> None:
        self.keys = list(keys)

    def verify(
        self,
        records: Sequence[tuple[Mapping[str, Any], str]],
        label: str,
        *,
        start_prev: str | None = None,
    ) -> list[str]:
        signed = [SignedRecord(body, signature) for body, signature in records]
        verify_chain(signed, self.keys, label, start_prev=start_prev)
        return [record.hash for record in signed]
