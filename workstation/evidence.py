"""Decrypt imported evidence into the workspace, prove it against its sealed manifest,
and make metadata-stripped working copies.

The original (`originals/<item>/`) is written once, read-only, and never touched again:
it is the evidence. Its SHA-256 and size must equal those in the sealed manifest the
server stored with the submission (hashed in memory as it arrived), or it is removed
and the decryption refused. Sharing uses a copy in `working/<item>/` cleaned by mat2,
under a neutral name (`workstation.clean`); formats mat2 cannot clean get no working
copy (the log says so), never an uncleaned one.

All or nothing: without mat2 nothing is decrypted; if the cleaning fails (mat2 crashes,
the disk fills), the original is removed again and nothing is logged, so the item can
be decrypted once the cause is fixed.

Key rotation: the workstation keeps every submission secret key it ever had in its
GnuPG home; each passphrase given is tried in turn, so items sealed to an older key
decrypt as well as new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess  # nosec B404
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keys.errors import DecryptionError
from keys.gpg import GpgKeyring
from workstation.bundle import EvidenceItem
from workstation.clean import Cleaned, clean_copy, neutral_name, require_mat2
from workstation.custody_log import Workspace
from workstation.decrypt import decrypt_downloads
from workstation.errors import DecryptFailedError, WorkstationError

__all__ = ["DecryptedItem", "ManifestMismatchError", "decrypt_item", "file_sha256"]

SESSION_KEYS = "session-keys.json"


class ManifestMismatchError(WorkstationError):
    """The decrypted plaintext is not what the sealed manifest says was received."""


@dataclass(frozen=True)
class DecryptedItem:
    item: EvidenceItem
    original: Path
    sha256: str
    size: int
    manifest: dict[str, Any] | None
    working_copy: Path | None
    removed: list[str]  # the metadata mat2 found in the original ("name: value")


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _open_manifest(home: Path, passphrases: Sequence[str], sealed: Path) -> dict[str, Any]:
    keyring = GpgKeyring(home, server=False)
    for passphrase in passphrases:
        try:
            return dict(json.loads(keyring.open_bytes(sealed.read_bytes(), passphrase)))
        except (DecryptionError, ValueError):
            continue
    raise DecryptFailedError(f"{sealed.name}: could not decrypt the sealed manifest")


def _session_key(home: Path, passphrases: Sequence[str], path: Path) -> str | None:
    """The OpenPGP session key of one ciphertext, as `gpg --show-session-key` prints it.

    It opens that ciphertext and nothing else: put in a judicial file beside the
    original, it lets anyone check, with gpg and no secret key, that the original is
    what the server received (`gpg --override-session-key`).
    """
    for passphrase in passphrases:
        result = subprocess.run(  # nosec B603 B607
            [
                "gpg",
                "--homedir",
                str(home),
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "0",
                "--status-fd",
                "1",
                "--show-session-key",
                "--yes",
                "--decrypt",
                "--output",
                os.devnull,
                str(path),
            ],
            input=passphrase.encode("utf-8"),
            capture_output=True,
            check=False,
        )
        for line in result.stdout.decode("ascii", "replace").splitlines():
            if line.startswith("[GNUPG:] SESSION_KEY "):
                return line.split()[2]
    return None


def _decrypt(home: Path, passphrases: Sequence[str], item: EvidenceItem, out: Path) -> Path:
    failure: Exception | None = None
    for passphrase in passphrases:
        try:
            [path] = decrypt_downloads(home, passphrase, [item.ciphertext], out)
            return path
        except DecryptFailedError as exc:
            failure = exc
    raise DecryptFailedError(
        f"{item.ciphertext.name}: no key and passphrase given opens it"
    ) from failure


def decrypt_item(
    workspace: Workspace, item: EvidenceItem, gnupg_home: Path, passphrases: Sequence[str]
) -> DecryptedItem:
    """Decrypt one imported item; check it against its sealed manifest; clean a working
    copy; log it all. Mat2MissingError before anything is written if mat2 is missing."""
    mat2 = require_mat2()
    out = workspace.dir("originals") / item.uuid
    if out.exists():
        raise WorkstationError(f"{item.uuid}: already decrypted into {out}")
    working = workspace.dir("working") / item.uuid
    # Outside working/ (which is shared): a crash mid-way leaves nothing unstripped there.
    scratch = workspace.dir("originals") / f".cleaning-{item.uuid}"
    shutil.rmtree(scratch, ignore_errors=True)  # left by a crash: remade below
    shutil.rmtree(working, ignore_errors=True)  # only ever cleaned copies, of no original
    out.mkdir(mode=0o700, parents=True)
    try:
        original = _decrypt(gnupg_home, passphrases, item, out)
        sha256, size = file_sha256(original)
        manifest = None
        if item.sealed_manifest is not None:
            manifest = _open_manifest(gnupg_home, passphrases, item.sealed_manifest)
            if manifest.get("sha256") != sha256 or manifest.get("size") != size:
                raise ManifestMismatchError(
                    f"{item.ciphertext.name}: the decrypted content does not match its "
                    "sealed manifest (SHA-256 or size differ): refused"
                )
        os.chmod(original, 0o400)
        keys = {"ciphertext": _session_key(gnupg_home, passphrases, item.ciphertext)}
        if item.sealed_manifest is not None:
            keys["manifest"] = _session_key(gnupg_home, passphrases, item.sealed_manifest)
        (item.directory / SESSION_KEYS).unlink(missing_ok=True)
        (item.directory / SESSION_KEYS).write_text(json.dumps(keys))
        os.chmod(item.directory / SESSION_KEYS, 0o400)
        scratch.mkdir(mode=0o700)
        cleaned = clean_copy(mat2, original, working, _working_name(item, original), scratch)
        # No file name in the log: the whole log goes into every judicial file, and a
        # name from one case (often a person's name) must not reach the court of another.
        workspace.log.append(
            "decrypted",
            {
                "item": item.uuid,
                "ciphertext_sha256": item.receipt.body.get("sha256"),
                "sha256": sha256,
                "size": size,
                "manifest_checked": manifest is not None,
                "media_type": (manifest or {}).get("media_type"),
            },
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(working, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _log_working_copy(workspace, item, cleaned)
    return DecryptedItem(item, original, sha256, size, manifest, cleaned.copy, cleaned.removed)


def _working_name(item: EvidenceItem, original: Path) -> str:
    """`<N>-<kind>.<ext>`: the original's name may name a person (`…_Jeanne.pdf`)."""
    kind = {"message": "message", "reply": "reply"}.get(item.kind)
    return neutral_name(item.number, original.name, kind)


def _log_working_copy(workspace: Workspace, item: EvidenceItem, cleaned: Cleaned) -> None:
    if cleaned.copy is None:
        workspace.log.append(
            "working-copy-refused",
            {"item": item.uuid, "reason": "mat2 cannot clean this format: share nothing"},
        )
        return
    sha256, _ = file_sha256(cleaned.copy)
    workspace.log.append(
        "working-copy",
        {"item": item.uuid, "sha256": sha256, "tool": "mat2 --inplace"},
    )
