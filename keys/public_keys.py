"""What an armored OpenPGP public key block holds, read by gpg in a throw-away home.

Used for keys that come from outside (a peer's published readers of case messages):
nothing is imported into any home of ours to find out, and the listing is parsed from
gpg's machine-readable `--with-colons` output.
"""

from __future__ import annotations

import subprocess  # nosec B404
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from keys.gpg import kill_agent, prepare_home

__all__ = ["PublicKeyInfo", "show_public_keys"]

# A key or subkey that is revoked, expired or invalid encrypts nothing.
_UNUSABLE = set("rein")
_ARGS = ("--batch", "--no-tty", "--quiet", "--no-keyring", "--with-colons", "--show-keys")


@dataclass(frozen=True)
class PublicKeyInfo:
    fingerprint: str
    secret: bool
    key_ids: tuple[str, ...]  # the primary key's and its subkeys'
    encryption_ids: tuple[str, ...]  # the usable keys among them that may encrypt


@dataclass
class _Building:
    secret: bool
    fingerprint: str = ""
    ids: list[str] = field(default_factory=list)
    enc: list[str] = field(default_factory=list)

    def done(self) -> PublicKeyInfo:
        return PublicKeyInfo(self.fingerprint, self.secret, tuple(self.ids), tuple(self.enc))


def _parse(colons: str) -> list[PublicKeyInfo]:
    built: list[_Building] = []
    want_fpr = False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sec") and len(fields) > 11:
            built.append(_Building(secret=fields[0] == "sec"))
        if not built:
            continue
        current = built[-1]
        if fields[0] in ("pub", "sec", "sub", "ssb") and len(fields) > 11:
            key_id = fields[4].upper()
            current.ids.append(key_id)
            if "e" in fields[11] and fields[1] not in _UNUSABLE:
                current.enc.append(key_id)
            want_fpr = fields[0] in ("pub", "sec")
        elif fields[0] == "fpr" and want_fpr and len(fields) > 9:
            current.fingerprint, want_fpr = fields[9].upper(), False
    return [b.done() for b in built if b.fingerprint]


def show_public_keys(armored: str, binary: str = "gpg") -> list[PublicKeyInfo]:
    """The keys in `armored`, as gpg reads them without any keyring ([] if unreadable)."""
    with tempfile.TemporaryDirectory(prefix="show-keys-") as tmp:
        home = prepare_home(Path(tmp) / "gnupg")
        try:
            done = subprocess.run(  # nosec B603
                [binary, "--homedir", str(home), *_ARGS],
                input=armored.encode(),
                capture_output=True,
                check=False,
            )
        finally:
            kill_agent(home)
    if done.returncode != 0:
        return []
    return _parse(done.stdout.decode(errors="replace"))
