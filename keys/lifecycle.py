"""The submission key: generated offline, its public half loaded into an instance.

The server only ever holds the public half. `generate_submission_key` runs on the
air-gapped workstation (or, marked DEVELOPMENT, on a development machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gnupg

from keys.errors import KeyOperationError
from keys.gpg import GpgKeyring, batch_key_spec, generate_key, prepare_workstation_home

DEV_KEY_NAME = "BackUp DEVELOPMENT submission key - NOT FOR REAL SUBMISSIONS"
PRODUCTION_KEY_NAME = "BackUp submission key"
SUBMISSION_KEY_FILE = "submission_key.fpr"


@dataclass(frozen=True)
class GeneratedKey:
    fingerprint: str
    public_armored: str


def generate_submission_key(
    home: Path, passphrase: str, *, name: str = PRODUCTION_KEY_NAME, rsa: bool = False
) -> GeneratedKey:
    """A passphrase-protected submission keypair in `home` (cv25519, or RSA-4096)."""
    prepare_workstation_home(home)  # before its agent starts: it never caches the phrase
    os.chmod(home, 0o700)
    gpg = gnupg.GPG(gnupghome=str(home))
    spec = batch_key_spec(name, passphrase, rsa=rsa)
    fingerprint, status = generate_key(home, spec, passphrase)
    if not fingerprint:
        raise KeyOperationError(f"submission key generation failed: {status[-300:]}")
    public = gpg.export_keys(fingerprint)
    return GeneratedKey(fingerprint, str(public))


def load_submission_key(instance_dir: Path, keyring: GpgKeyring, public_armored: str) -> str:
    """Import the public half into the server keyring and make it the submission key.

    Refuses armored data that carries a secret key: the server must never hold one.
    """
    if "PRIVATE KEY BLOCK" in public_armored:
        raise KeyOperationError("refusing a secret key: load the public key only")
    fingerprints = keyring.import_keys(public_armored)
    if len(fingerprints) != 1:
        raise KeyOperationError("expected exactly one public key")
    fingerprint = fingerprints[0]
    if keyring.has_secret_key(fingerprint):
        raise KeyOperationError("the server keyring holds this key's secret half")
    path = instance_dir / SUBMISSION_KEY_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(fingerprint + "\n")
    os.replace(tmp, path)
    return fingerprint


def fingerprint_groups(fingerprint: str) -> str:
    """'ABCD 1234 ...' for reading aloud when checking a key out of band."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))
