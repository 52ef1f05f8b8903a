"""Each public key a server GnuPG home uses, as a file of its own that never changes.

Why: gpg replaces its keyring (`pubring.kbx`) by renaming the old file away and the new
one into place, and readers take no lock. A seal started between the two renames found
no keyring at all ("keydb_search failed: No such file or directory"), and a new
source's reply key is written to the keyring while others upload: a survivor's
submission was refused. gpg's dotlock (`pubring.kbx.lock`) only orders writers, and
keyboxd (GnuPG 2.4) is not in Debian 12's 2.2.

So every operation a request makes reads only files written once and never replaced:
`<home>/public/<FINGERPRINT>.gpg` (the binary public key, written to a temporary name,
fsynced, then linked into place), sealed to with `--no-keyring --recipient-file`;
`<home>/public/by-id/<KEYID>` links each key id (primary and subkeys) to its key's
file, for the decryption of a message that names only its subkey. A key is removed by
unlinking: a reader that opened the file before keeps reading the whole of it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

_FINGERPRINT = re.compile(r"[0-9A-F]{40}")
_KEY_ID = re.compile(r"[0-9A-F]{16}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PublicKeyFiles:
    """The directory of a home's public key files (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ids = root / "by-id"
        self._ids.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path(self, fingerprint: str) -> Path:
        fingerprint = fingerprint.upper()
        if not _FINGERPRINT.fullmatch(fingerprint):
            raise ValueError("not a fingerprint")
        return self.root / f"{fingerprint}.gpg"

    def get(self, fingerprint: str) -> Path | None:
        """The key's file, or None when the home has no such key (or it is no
        fingerprint at all)."""
        try:
            path = self.path(fingerprint)
        except ValueError:
            return None
        return path if path.is_file() else None

    def by_key_id(self, key_id: str) -> Path | None:
        """The file of the key that has `key_id` (primary key or subkey), if any."""
        key_id = key_id.upper()
        if not _KEY_ID.fullmatch(key_id):
            return None
        try:
            target = os.readlink(self._ids / key_id)
        except OSError:
            return None
        path = self.root / Path(target).name
        return path if _FINGERPRINT.fullmatch(path.stem) and path.is_file() else None

    def fingerprints(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.gpg") if _FINGERPRINT.fullmatch(p.stem))

    def publish(self, fingerprint: str, data: bytes, key_ids: Iterable[str]) -> Path:
        """Write the key's file once (a file already there is kept: same fingerprint,
        same key), then link its key ids to it."""
        final = self.path(fingerprint)
        if not final.is_file():
            tmp = self.root / f".{final.stem}.{secrets.token_hex(8)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(tmp, final)  # never replaces: readers see all of one file
                except FileExistsError:
                    pass
            finally:
                tmp.unlink(missing_ok=True)
        for key_id in {k.upper() for k in key_ids if _KEY_ID.fullmatch(k.upper())}:
            link = self._ids / key_id
            if self.by_key_id(key_id) is not None:
                continue  # a live key holds this id already: the first one keeps it
            staged = self._ids / f".{key_id}.{secrets.token_hex(8)}"
            os.symlink(f"../{final.name}", staged)
            os.replace(staged, link)  # a dangling link (a removed key) is replaced whole
        _fsync_dir(self._ids)
        _fsync_dir(self.root)
        return final

    def remove(self, fingerprint: str, key_ids: Iterable[str]) -> None:
        """Unlink the key's file and its key-id links; a missing key is no error."""
        final = self.path(fingerprint)
        for key_id in {k.upper() for k in key_ids if _KEY_ID.fullmatch(k.upper())}:
            link = self._ids / key_id
            try:
                if Path(os.readlink(link)).name == final.name:
                    link.unlink(missing_ok=True)
            except OSError:
                continue
        final.unlink(missing_ok=True)
        _fsync_dir(self.root)
