"""The instance's column key: seals, at rest, database values the server itself must read
with nobody logged in, or that are shown to every reader (AES-256-GCM).

What it seals: reviewers' TOTP secrets (read at every login, so they cannot be sealed to
an OpenPGP key that only a logged-in session opens, nor hashed), the partner
directory's regions, languages and contact details (vault.services.partners) and the
reason given for a legal hold (vault.services.legal_hold). The key
lives in the instance directory (`column.key`, 0600), never in the database: a database
dump or a database backup alone yields none of these values. Whoever holds the whole
server (the instance directory as well) opens them; see docs/threat-model.md, "What a
seized server yields".

The sealed form is text, `v1:` and base64 of nonce and ciphertext. The associated data
names the purpose and the row's uuid: a value copied onto another row, or into another
column, does not open there.

The key is read on first use (`ColumnKeyFile`): a process that never reads such a value
(the source app, the worker) never reads the key file.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session, sessionmaker

from vault.errors import ConfigError, VaultError

__all__ = [
    "COLUMN_KEY_FILE",
    "LEGAL_HOLD_REASON",
    "PARTNER_DETAILS",
    "TOTP_SECRET",
    "ColumnKey",
    "ColumnKeyFile",
    "SealedColumnError",
    "bind_column_key",
    "column_key_of",
]

COLUMN_KEY_FILE = "column.key"
KEY_BYTES = 32
_NONCE_BYTES = 12
_PREFIX = "v1:"
_AAD = b"backup.column.v1\0"
_INFO = "vault.column_key_file"

# Purposes (names, not secrets): each sealed value is bound to one, and to its row's uuid.
TOTP_SECRET = "totp-secret"  # noqa: S105  # nosec B105
PARTNER_DETAILS = "partner-details"
LEGAL_HOLD_REASON = "legal-hold-reason"


class SealedColumnError(VaultError):
    """A sealed value that does not open: another key, another row or purpose, altered."""


class ColumnKey:
    """An AES-256-GCM key for sealed columns. Never printed (not even in a traceback)."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError("a column key is 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "ColumnKey(<hidden>)"

    def seal(self, value: str, purpose: str, row_uuid: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), _aad(purpose, row_uuid))
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, purpose: str, row_uuid: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise SealedColumnError("not a sealed value")
        try:
            raw = base64.b64decode(sealed[len(_PREFIX) :], validate=True)
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(purpose, row_uuid)
            )
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise SealedColumnError("the value does not open with this key") from exc
        return plain.decode("utf-8")

    @classmethod
    def generate(cls, path: Path) -> ColumnKey:
        """A new key at `path`, 0600; FileExistsError if there is one (never overwritten).

        Written to a private temporary file first, then linked into place: two processes
        starting at once never read a half-written key (one link wins, the other loads).
        """
        key = secrets.token_bytes(KEY_BYTES)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(partial, path)
        finally:
            partial.unlink()
        return cls(key)

    @classmethod
    def load(cls, path: Path, *, group_readable: bool = False) -> ColumnKey:
        """`group_readable`: a key its owner shares with one group (the directory key:
        the reviewer interface's, read by the federation endpoint's user too), 0640;
        never writable by the group nor readable by others."""
        if path.stat().st_mode & (0o037 if group_readable else 0o077):
            mode = "640" if group_readable else "600"
            raise ConfigError(f"{path}: column key readable by others (chmod {mode})")
        return cls(path.read_bytes())

    @classmethod
    def load_or_generate(cls, path: Path, *, group_readable: bool = False) -> ColumnKey:
        """The instance's column key, made on first use (unattended, like the receipt key).

        An existing key is loaded without trying to make one first: a deployment makes it
        in advance, in a directory its reader may not write (docs/deploy.md).
        """
        try:
            return cls.load(path, group_readable=group_readable)
        except FileNotFoundError:
            pass
        try:
            return cls.generate(path)
        except FileExistsError:
            return cls.load(path, group_readable=group_readable)


def _aad(purpose: str, row_uuid: str) -> bytes:
    return _AAD + purpose.encode("ascii") + b"\0" + row_uuid.encode("ascii")


class ColumnKeyFile:
    """The instance's column key file, read (or made) on first use, then kept."""

    def __init__(self, path: Path, *, group_readable: bool = False) -> None:
        self.path = path
        self.group_readable = group_readable
        self._key: ColumnKey | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ColumnKeyFile({self.path})"

    def key(self) -> ColumnKey:
        with self._lock:
            if self._key is None:
                self._key = ColumnKey.load_or_generate(
                    self.path, group_readable=self.group_readable
                )
            return self._key


def bind_column_key(factory: sessionmaker[Session], key_file: ColumnKeyFile) -> None:
    """Every session `factory` makes from now on seals and opens sealed columns with the
    key in `key_file` (read when a session first needs it)."""
    info = dict(factory.kw.get("info") or {})
    info[_INFO] = key_file
    factory.configure(info=info)


def column_key_of(db: Session) -> ColumnKey:
    key_file = db.info.get(_INFO)
    if not isinstance(key_file, ColumnKeyFile):
        raise ConfigError("no column key bound to this session")
    return key_file.key()
