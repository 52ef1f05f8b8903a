"""From one server GnuPG home to one per process.

Before, every process used `<instance>/gnupg` itself: the source interface's reply keys
and the reviewer interface's account keys side by side. Now each side has its own home
under it (`<instance>/gnupg/<side>`, vault.config.KEYRING_SIDES). `split_legacy_home`
turns the former into the latter once: each side gets a copy of every public key (the
submission key, the others' public halves) and the secret halves it owns only; the
former home's files are then removed, its secret key files overwritten first.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Set
from pathlib import Path

import gnupg

from keys.gpg import kill_agent, prepare_home, shred_file

# What marks a GnuPG home directly in the root (the former layout).
_LEGACY_MARKS = ("pubring.kbx", "pubring.gpg", "private-keys-v1.d")


def is_legacy_home(root: Path) -> bool:
    return any((root / name).exists() for name in _LEGACY_MARKS)


def split_legacy_home(
    root: Path, owned: Mapping[str, Set[str]], *, binary: str = "gpg"
) -> list[Path]:
    """Split the single home in `root` into `root/<side>` for each side of `owned`,
    keeping in each the secret halves of `owned[side]` (fingerprints) only; the homes
    made (none when `root` holds no former home). A side's home that exists already is
    left as it is."""
    if not is_legacy_home(root):
        return []
    kill_agent(root)
    sides = set(owned)
    made = []
    for side, fingerprints in owned.items():
        home = root / side
        if home.exists():
            continue
        partial = root / f".{side}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(
            root,
            partial,
            ignore=lambda _dir, names: [
                n for n in names if n.startswith(("S.", ".")) or n in sides or n.endswith(".lock")
            ],
        )
        gpg = gnupg.GPG(gnupghome=str(prepare_home(partial)), gpgbinary=binary)
        wanted = {fp.upper() for fp in fingerprints}
        for key in gpg.list_keys(secret=True):
            fingerprint = str(key["fingerprint"]).upper()
            if fingerprint not in wanted:
                gpg.delete_keys(fingerprint, secret=True, expect_passphrase=False)
                (partial / "openpgp-revocs.d" / f"{fingerprint}.rev").unlink(missing_ok=True)
        kill_agent(partial)
        partial.rename(home)  # whole or not at all: a crash before leaves no half home
        made.append(home)
    _remove_legacy(root, sides)
    return made


def _remove_legacy(root: Path, sides: Set[str]) -> None:
    for entry in root.iterdir():
        if entry.name in sides:
            continue
        if entry.is_dir() and not entry.is_symlink():
            for path in entry.rglob("*"):
                if path.is_file():
                    shred_file(path)
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_file():
            shred_file(entry)
        else:
            entry.unlink(missing_ok=True)
