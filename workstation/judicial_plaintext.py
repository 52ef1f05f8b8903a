"""The strongest check of a judicial file: is each original really what the server
received? With the OpenPGP session key recorded for each ciphertext (and its sealed
manifest) at decryption, gpg opens that one ciphertext without any secret key
(`--override-session-key`), in a throw-away home; the result (gunzipped, for a
document) must hash to the original's SHA-256, and the sealed manifest, sealed by the
server on receipt, must name the same hash and size.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess  # nosec B404
import tempfile
import zlib
from pathlib import Path
from typing import Any

__all__ = ["PlaintextCheck", "check_plaintext"]

_MAX_PLAINTEXT = 4 * 1024**3


class PlaintextCheck:
    """Outcome of one item's check: `problem` is None when it passed."""

    def __init__(self, problem: str | None, skipped: bool = False) -> None:
        self.problem = problem
        self.skipped = skipped


def _open(ciphertext: bytes, session_key: str, home: Path) -> bytes | None:
    result = subprocess.run(  # nosec B603 B607
        [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--no-tty",
            "--quiet",
            "--override-session-key",
            session_key,
            "--decrypt",
            "--output",
            "-",
        ],
        input=ciphertext,
        capture_output=True,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def _gunzip_sha256(data: bytes) -> str | None:
    """SHA-256 of the gunzipped data, 1 MiB at a time (a bomb is cut off, not held)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    digest, total, pending = hashlib.sha256(), 0, data
    try:
        while not inflater.eof:
            out = inflater.decompress(pending, 1024 * 1024)
            pending = inflater.unconsumed_tail
            total += len(out)
            if total > _MAX_PLAINTEXT or (not out and not pending):
                return None
            digest.update(out)
    except zlib.error:
        return None
    return digest.hexdigest()


def check_plaintext(
    item: dict[str, Any], ciphertext: bytes, sealed: bytes | None
) -> PlaintextCheck:
    keys = item.get("session_keys") or {}
    if not keys.get("ciphertext"):
        return PlaintextCheck(None, skipped=True)
    if shutil.which("gpg") is None:
        return PlaintextCheck(None, skipped=True)
    original = item["original"]
    home = Path(tempfile.mkdtemp(prefix="backup-verify-"))
    try:
        home.chmod(0o700)
        plain = _open(ciphertext, keys["ciphertext"], home)
        if plain is None:
            return PlaintextCheck(f"{item['ciphertext']}: its session key does not open it")
        if item["kind"] == "file":
            sha256 = _gunzip_sha256(plain)
        else:
            sha256 = hashlib.sha256(plain).hexdigest()
        if sha256 != original["sha256"]:
            return PlaintextCheck(
                f"{original['path']}: not the plaintext of the ciphertext the server received"
            )
        if sealed is not None and keys.get("manifest"):
            opened = _open(sealed, keys["manifest"], home)
            manifest = json.loads(opened) if opened else {}
            if (manifest.get("sha256"), manifest.get("size")) != (
                original["sha256"],
                original["size"],
            ):
                return PlaintextCheck(
                    f"{item['sealed_manifest']}: the manifest sealed on receipt names "
                    "another hash or size"
                )
        return PlaintextCheck(None)
    finally:
        subprocess.run(  # nosec B603 B607
            ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
        )
        shutil.rmtree(home, ignore_errors=True)
