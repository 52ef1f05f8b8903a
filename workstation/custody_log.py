"""The workstation's custody log and workspace: every import, decryption, copy and
export, by whom and when, as signed, hash-chained records (keys.receipts), like the
server's receipts.

A workspace is one directory on the air-gapped machine:

    workstation-key.pem   Ed25519 key signing the log and judicial files (passphrase)
    custody-log.jsonl     the log, one signed record a line
    trusted/              pinned receipt public keys of the server(s)
    evidence/             imported ciphertext, sealed manifests, receipts (read-only)
    originals/            decrypted originals, untouched (read-only): the evidence
    working/              metadata-stripped copies (mat2) for sharing
    judicial/             judicial files built here
    authorities/gnupg/    public keys of the authorities judicial files are sealed to
                          (workstation.authorities; the register is in the log)

Each log entry is signed as it is written, so an edit made later, even by someone who
can write the log file, breaks a signature unless they also hold the key's passphrase.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keys.receipts import GENESIS, ChainError, SignedRecord, SigningKey, VerifyKey, verify_chain
from workstation.errors import WorkstationError

__all__ = [
    "LOG_NAME",
    "PUBLIC_KEY_NAME",
    "CustodyLog",
    "Workspace",
    "read_log",
    "utc_stamp",
    "verify_log",
]

LOG_NAME = "custody-log.jsonl"
KEY_NAME = "workstation-key.pem"
PUBLIC_KEY_NAME = "workstation-key.pub.pem"
_DIRS = ("trusted", "evidence", "originals", "working", "judicial")


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_log(path: Path, label: str = LOG_NAME) -> list[SignedRecord]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [SignedRecord.from_json(line, f"{label} line {n}") for n, line in enumerate(lines, 1)]


def verify_log(path: Path, key: VerifyKey, label: str = LOG_NAME) -> list[SignedRecord]:
    """Every entry signed by `key` and chained from the first; ChainError otherwise."""
    records = read_log(path, label)
    verify_chain(records, [key], label, start_prev=GENESIS)
    return records


class CustodyLog:
    """Appends signed entries; an exclusive lock keeps two commands from forking it."""

    def __init__(self, path: Path, key: SigningKey, actor: str) -> None:
        self.path = path
        self.key = key
        self.actor = actor

    def append(self, action: str, details: Mapping[str, object]) -> SignedRecord:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            lines = handle.read().splitlines()
            last = SignedRecord.from_json(lines[-1], LOG_NAME) if lines else None
            body = {
                "seq": 0 if last is None else int(last.body["seq"]) + 1,
                "prev": GENESIS if last is None else last.hash,
                "at": utc_stamp(),
                "actor": self.actor,
                "action": action,
                "details": dict(details),
                "key": self.key.fingerprint,
            }
            record = SignedRecord.sign(self.key, body)
            handle.write(record.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record


@dataclass
class Workspace:
    root: Path
    key: SigningKey
    actor: str

    @property
    def log(self) -> CustodyLog:
        return CustodyLog(self.root / LOG_NAME, self.key, self.actor)

    def dir(self, name: str) -> Path:
        return self.root / name

    @classmethod
    def create(cls, root: Path, passphrase: str, actor: str | None = None) -> Workspace:
        if (root / KEY_NAME).exists():
            raise WorkstationError(f"{root}: already a workspace")
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in _DIRS:
            (root / name).mkdir(mode=0o700, exist_ok=True)
        key = SigningKey.generate(root / KEY_NAME, passphrase.encode("utf-8"))
        (root / PUBLIC_KEY_NAME).write_text(key.verify_key.pem())
        workspace = cls(root, key, actor or getpass.getuser())
        workspace.log.append("workspace-created", {"workstation_key": key.fingerprint})
        return workspace

    @classmethod
    def open(cls, root: Path, passphrase: str, actor: str | None = None) -> Workspace:
        if not (root / KEY_NAME).exists():
            raise WorkstationError(f"{root}: not a workspace (run `backupctl custody init`)")
        key = SigningKey.load(root / KEY_NAME, passphrase.encode("utf-8"))
        workspace = cls(root, key, actor or getpass.getuser())
        try:
            verify_log(root / LOG_NAME, key.verify_key)
        except ChainError as exc:
            raise WorkstationError(f"refusing to work: the custody log is damaged: {exc}") from exc
        return workspace

    def trusted_receipt_keys(self) -> list[VerifyKey]:
        return [
            VerifyKey.from_pem(p.read_bytes()) for p in sorted(self.dir("trusted").glob("*.pem"))
        ]

    def trust_receipt_key(self, pem: str) -> str:
        key = VerifyKey.from_pem(pem)
        path = self.dir("trusted") / f"receipt-key-{key.fingerprint[:16]}.pem"
        if not path.exists():
            path.write_text(key.pem())
            self.log.append("receipt-key-trusted", {"fingerprint": key.fingerprint})
        return key.fingerprint
