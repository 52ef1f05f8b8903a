"""The instance's directory key: seals, at rest, the entries of the directory of
professionals (ours and our peers'), AES-256-GCM as the column key (vault.column_key).

A key of its own (`directory.key`, 0600, or 0640 for a deployment that shares it with
the federation endpoint's user through a group: `directory_key_file`) rather than the
column key: the federation endpoint stores the directories peers send, so it needs a key
to seal them, and it must not hold the column key, which also opens reviewers' TOTP
secrets. A database dump alone yields no entry; whoever holds the instance directory
as well opens them (docs/threat-model.md).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from vault.column_key import ColumnKey, ColumnKeyFile
from vault.errors import ConfigError

__all__ = [
    "DIRECTORY_KEY_FILE",
    "OUR_ENTRY",
    "PEER_ENTRY",
    "bind_directory_key",
    "directory_key_file",
    "directory_key_of",
]

DIRECTORY_KEY_FILE = "directory.key"
_INFO = "vault.directory_key_file"
# Purposes: an entry sealed for one table does not open in the other.
OUR_ENTRY = "directory-listing"
PEER_ENTRY = "peer-directory-entry"


def directory_key_file(instance_dir: Path) -> ColumnKeyFile:
    """The instance's directory key file (made on first use if missing)."""
    return ColumnKeyFile(instance_dir / DIRECTORY_KEY_FILE, group_readable=True)


def bind_directory_key(factory: sessionmaker[Session], key_file: ColumnKeyFile) -> None:
    info = dict(factory.kw.get("info") or {})
    info[_INFO] = key_file
    factory.configure(info=info)


def directory_key_of(db: Session) -> ColumnKey:
    key_file = db.info.get(_INFO)
    if not isinstance(key_file, ColumnKeyFile):
        raise ConfigError("no directory key bound to this session")
    return key_file.key()
