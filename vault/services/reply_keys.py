"""A source's reply key, usable on every server behind the one source address.

The key pair is made in a throwaway GnuPG home (keys.gpg.GpgKeyring.generate_portable_key):
the public half goes to the making home's key files and to `sources.reply_public_key`,
the secret half, as gpg exports it (still locked by the codename-derived passphrase),
to `sources.reply_secret_key`, sealed once more (AES-256-GCM, bound to the row's uuid
and to this purpose) with the *reply-key wrap key*. Whichever server the source's
circuit ends on opens its replies with a throwaway home holding that key for the length
of the page (`opening`); no GnuPG home keeps it. Deleting the source's row deletes the
only copy.

The wrap key is derived (HKDF-SHA256) from the source interface's reply-key pepper,
which every server already holds (docs/cluster.md), rather than the instance's column
key: the source interface must not hold the column key, which also opens reviewers'
TOTP secrets (the reasoning of vault.directory_key). A database dump alone yields no
key material but these sealed values; docs/threat-model.md says what one costs to open
with the source secrets as well.

Sources recorded before this (migration 0027) have their secret half only in the home
of the server that made it: the first time such a source opens its replies there, the
key is exported (which takes its passphrase, which only the logged-in source brings)
and stored (`adopt`); from then on every server opens them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session, sessionmaker

from vault.column_key import ColumnKey, SealedColumnError
from vault.errors import ConfigError, DecryptionError, KeyringError
from vault.models import Source
from vault.ports import Keyring, Opener, PortableKey, PortableReplyKeys

__all__ = [
    "PURPOSE",
    "adopt",
    "bind_wrap_key",
    "generate",
    "open_secret",
    "opening",
    "wrap_key",
]

PURPOSE = "reply-secret-key"
_INFO = "vault.reply_key_wrap"
_HKDF_INFO = b"backup.reply-key-wrap.v1"
_MAX_OUTPUT = 1024 * 1024  # as keys.gpg's default; the callers here always say theirs

_log = logging.getLogger(__name__)


def wrap_key(reply_key_pepper: bytes) -> ColumnKey:
    """The reply-key wrap key, derived from the source interface's reply-key pepper
    (domain-separated: the pepper's other use is the scrypt salt of the passphrase)."""
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        reply_key_pepper
    )
    return ColumnKey(derived)


def bind_wrap_key(factory: sessionmaker[Session], key: ColumnKey) -> None:
    """Every session `factory` makes seals and opens reply secret keys with `key` (bound
    only in a process that holds the source interface's secrets)."""
    info = dict(factory.kw.get("info") or {})
    info[_INFO] = key
    factory.configure(info=info)


def _wrap_key_of(db: Session) -> ColumnKey:
    key = db.info.get(_INFO)
    if not isinstance(key, ColumnKey):
        raise ConfigError("no reply-key wrap key bound to this session")
    return key


def generate(db: Session, keyring: PortableReplyKeys, name: str, passphrase: str) -> PortableKey:
    """A new portable reply key (its secret half locked with `passphrase`). Checks first
    that this session can seal it: nothing is made that could not be kept."""
    _wrap_key_of(db)
    return keyring.generate_portable_key(name, passphrase)


def seal_secret(db: Session, secret: str, source_uuid: str) -> str:
    return _wrap_key_of(db).seal(secret, PURPOSE, source_uuid)


def open_secret(db: Session, source: Source) -> str | None:
    """The exported (passphrase-locked) secret half kept for `source`, or None."""
    if source.reply_secret_key is None:
        return None
    return _wrap_key_of(db).open(source.reply_secret_key, PURPOSE, source.uuid)


def adopt(db: Session, keyring: Keyring, source: Source, passphrase: str) -> bool:
    """Store the secret half of a source recorded before migration 0027, if this home
    holds it (the caller commits); whether the database has it now."""
    if source.reply_secret_key is not None:
        return True
    if not source.reply_key_fingerprint or not keyring.has_secret_key(source.reply_key_fingerprint):
        return False
    try:
        secret = keyring.export_secret(source.reply_key_fingerprint, passphrase)
    except KeyringError as exc:
        _log.error("reply key not moved to the database: %s", type(exc).__name__)
        return False
    source.reply_secret_key = seal_secret(db, secret, source.uuid)
    return True


class _Borrowing:
    """Borrows the source's key from the database at the first item opened, then opens
    every item of the `with` block with it (a page that opens nothing starts no gpg)."""

    def __init__(self, stack: ExitStack, db: Session, keyring: Keyring, source: Source) -> None:
        self._stack, self._db, self._keyring, self._source = stack, db, keyring, source
        self._opener: Opener | None = None

    def _borrow(self) -> Opener:
        try:
            secret = open_secret(self._db, self._source)
            if secret is not None:
                return self._stack.enter_context(
                    self._keyring.borrowed_key(self._source.reply_key_fingerprint, secret)
                )
        except (SealedColumnError, KeyringError) as exc:
            # Another server's source secrets, or a damaged row: nothing opens. Logged
            # by kind only.
            _log.error("reply key not usable: %s", type(exc).__name__)
        return _Unopenable()

    def open_bytes(
        self, ciphertext: bytes, passphrase: str, *, max_output: int = _MAX_OUTPUT
    ) -> bytes:
        if self._opener is None:
            self._opener = self._borrow()
        return self._opener.open_bytes(ciphertext, passphrase, max_output=max_output)


class _Unopenable:
    """Stands for a key this server cannot use: nothing opens."""

    def open_bytes(
        self, ciphertext: bytes, passphrase: str, *, max_output: int = _MAX_OUTPUT
    ) -> bytes:
        raise DecryptionError("the reply key is not usable on this server")


@contextmanager
def opening(db: Session, keyring: Keyring, source: Source, passphrase: str) -> Iterator[Opener]:
    """What opens items sealed to `source`'s reply key (replies, consent states) for the
    `with` block: its key from the database in a throwaway home (made at the first item
    opened, removed at the end), or, for a source recorded before migration 0027 whose
    key is not stored yet, this home (the key is stored on the way, `adopt`). Opening
    fails (DecryptionError) when neither holds it.
    """
    if not adopt(db, keyring, source, passphrase):
        yield keyring  # opens nothing unless this home holds the key (as before 0027)
        return
    with ExitStack() as stack:
        yield _Borrowing(stack, db, keyring, source)
