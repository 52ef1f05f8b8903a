"""Encrypt as a client would (armored, or with options the server never uses), to keys
of a server home: gpg reads each key from its key file (keys.keyfiles)."""

from __future__ import annotations

import subprocess  # nosec B404
from collections.abc import Sequence

from keys.gpg import GpgKeyring


def encrypt_to(
    keyring: GpgKeyring,
    data: bytes,
    fingerprints: Sequence[str],
    *,
    armor: bool = True,
    options: Sequence[str] = (),
) -> bytes:
    argv = [keyring.binary, "--homedir", str(keyring.home), "--batch", "--no-keyring"]
    argv += ["--trust-model", "always", *options]
    for fingerprint in fingerprints:
        path = keyring.key_file(fingerprint)
        assert path is not None, f"no key file for {fingerprint}"
        argv += ["--recipient-file", str(path)]
    argv += [*(["--armor"] if armor else []), "--encrypt", "--output", "-"]
    done = subprocess.run(argv, input=data, capture_output=True, check=True)  # nosec B603
    return done.stdout
