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
import subprocess  # nosec B404
from collections.abc import Mapping, Set
from pathlib import Path

from keys.errors import KeysError
from keys.gpg import kill_agent, prepare_home
from keys.gpg_stream import shred_file

# What marks a GnuPG home directly in the root (the former layout).
_LEGACY_MARKS = ("pubring.kbx", "pubring.gpg", "private-keys-v1.d")


class KeyringSplitError(KeysError):
    """A home could not be made to hold only the secret halves its side owns."""


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
        _keep_secrets_of(prepare_home(partial), {fp.upper() for fp in fingerprints}, binary)
        partial.rename(home)  # whole or not at all: a crash before leaves no half home
        made.append(home)
    _remove_legacy(root, sides)
    return made


def _keep_secrets_of(home: Path, wanted: Set[str], binary: str) -> None:
    """Remove from `home` every secret key file but those of the keys in `wanted`.

    Works on the files themselves (`private-keys-v1.d/<keygrip>.key`), not through gpg's
    agent: an agent that cannot start (a socket path too long, a busy machine) would make
    a deletion fail quietly and leave a secret half in a home that must not hold it.
    What is kept is checked again afterwards; anything else is an error.
    """
    keep = set[str]()
    listing = subprocess.run(  # nosec B603
        [binary, "--homedir", str(home), "--batch", "--with-colons", "--with-keygrip", "-k"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    primary: str | None = None
    expect_primary_fpr = False
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            primary, expect_primary_fpr = None, True
        elif fields[0] == "fpr" and expect_primary_fpr:
            primary, expect_primary_fpr = fields[9].upper(), False
        elif fields[0] == "grp" and primary in wanted:
            keep.add(fields[9].upper())
    private = home / "private-keys-v1.d"
    for path in sorted(private.glob("*.key")) if private.is_dir() else []:
        if path.stem.upper() not in keep:
            shred_file(path)
    for path in (home / "openpgp-revocs.d").glob("*.rev"):
        if path.stem.upper() not in wanted:
            path.unlink()
    left = {p.stem.upper() for p in private.glob("*.key")} if private.is_dir() else set()
    if not left <= keep:
        raise KeyringSplitError(f"{home}: secret key files left that this side does not own")


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
