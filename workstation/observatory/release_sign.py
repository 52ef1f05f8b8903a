"""Signing and verifying a release with OpenPGP (real gpg).

The workstation signs with its OpenPGP key: the submission key pair whose secret half
only the workstation holds (the GnuPG home `backupctl workstation decrypt` uses), so a
partner or the reviewer interface checks a release with the public key they already
have. A release travels as three files:

    release-<id>.json      the document as canonical JSON (keys sorted, no spaces)
    release-<id>.json.asc  gpg's detached, armored signature of exactly those bytes
    (the public key, armored, which the reader pins: never the one shipped beside)

`verify_release` checks with the public key only, in a throw-away GnuPG home: the
signature must be good and made by that key (its primary key or a subkey); then the
bytes must be the canonical form of the document they hold (no second way to write
the same release), and the document must add up (`release.check_document`).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import gnupg

from keys.gpg import GpgKeyring, kill_agent
from workstation.observatory.release import ReleaseError, canonical, check_document

__all__ = [
    "SignatureError",
    "release_files",
    "sign_bytes",
    "sign_release",
    "verify_release",
    "verify_release_signer",
    "verify_signed",
]


class SignatureError(ReleaseError):
    """The signature is missing, bad, or not by the expected key."""


def sign_release(
    document: dict[str, Any], home: Path, fingerprint: str, passphrase: str
) -> tuple[bytes, bytes]:
    """(canonical bytes, detached armored signature) by `fingerprint` in `home`."""
    check_document(document)
    data = canonical(document)
    return data, sign_bytes(data, home, fingerprint, passphrase)


def sign_bytes(data: bytes, home: Path, fingerprint: str, passphrase: str) -> bytes:
    """gpg's detached armored signature (SHA-512) of `data` by `fingerprint` in `home`:
    releases and the federation's signed messages (`dedupe`) alike."""
    keyring = GpgKeyring(home, server=False)
    if not keyring.has_secret_key(fingerprint):
        raise SignatureError("no such secret key in this GnuPG home")
    result = keyring.gpg.sign(
        data,
        keyid=fingerprint,
        passphrase=passphrase,
        detach=True,
        clearsign=False,
        binary=False,
        extra_args=["--digest-algo", "SHA512"],
    )
    if not result.data or result.status != "signature created":
        raise SignatureError("gpg did not sign (wrong passphrase?)")
    return bytes(result.data)


def release_files(document: dict[str, Any], out_dir: Path, data: bytes, signature: bytes) -> Path:
    """Write `release-<id>.json` and its `.asc` into out_dir; the document's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"release-{document['id']}.json"
    path.write_bytes(data)
    path.with_name(path.name + ".asc").write_bytes(signature)
    return path


def _fingerprints(gpg: gnupg.GPG) -> set[str]:
    found: set[str] = set()
    for key in gpg.list_keys():
        found.add(str(key["fingerprint"]).upper())
        for sub in key.get("subkeys", []):
            found.add(str(sub[2]).upper())
    return found


def verify_release(data: bytes, signature: bytes, public_key: str | bytes) -> dict[str, Any]:
    """The document, if `signature` is a good signature of `data` by `public_key` and
    `data` is a canonical, well-formed release; SignatureError / ReleaseError if not."""
    return verify_release_signer(data, signature, public_key)[0]


def verify_release_signer(
    data: bytes, signature: bytes, public_key: str | bytes
) -> tuple[dict[str, Any], str]:
    """`verify_release`, with the fingerprint of the key (or subkey) that signed."""
    signer = verify_signed(data, signature, public_key)
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # pragma: no cover - signed garbage
        raise ReleaseError("not JSON") from exc
    if canonical(document) != data:
        raise ReleaseError("the release is not in canonical form")
    check_document(document)
    return document, signer


def verify_signed(data: bytes, signature: bytes, public_key: str | bytes) -> str:
    """The signer's fingerprint, if `signature` is a good detached signature of `data` by
    `public_key` (primary key or subkey, not expired or revoked), checked in a throw-away
    GnuPG home holding that public key only; SignatureError otherwise."""
    with tempfile.TemporaryDirectory(prefix="release-verify-") as tmp:
        home = Path(tmp) / "gnupg"
        home.mkdir(mode=0o700)
        try:
            gpg = gnupg.GPG(gnupghome=str(home))
            imported = gpg.import_keys(public_key)
            if not [fp for fp in imported.fingerprints if fp]:
                raise SignatureError("the public key could not be read")
            if gpg.list_keys(secret=True):
                raise SignatureError("give the public key only")
            trusted = _fingerprints(gpg)
            # Both as files: gpg reads them itself (a pipe breaks when gpg stops early).
            data_path = Path(tmp) / "release.json"
            data_path.write_bytes(data)
            with io.BytesIO(signature) as stream:
                verified = gpg.verify_file(stream, data_filename=str(data_path))
            signer = str(verified.pubkey_fingerprint or verified.fingerprint or "").upper()
            if not verified.valid or signer not in trusted:
                raise SignatureError(
                    "bad signature: the release was changed or signed by another key"
                )
            if verified.key_status is not None:  # expired or revoked key
                raise SignatureError(f"the signing key is not usable: {verified.key_status}")
        finally:
            kill_agent(home)
    return signer
