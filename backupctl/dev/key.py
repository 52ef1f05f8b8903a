"""The submission key of a development instance, generated on its first run.

Its secret half lives in `<instance>/dev-workstation-gnupg/`, a stand-in for the
air-gapped workstation that is NOT the server keyring (`<instance>/gnupg/`, which only
ever receives the public half), with its passphrase in the file beside it. It is
marked DEVELOPMENT in its user id, and a production instance never gets one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backupctl._common import check_gnupg_home, is_development_key
from composition.runtime import read_submission_fingerprint
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import (
    DEV_KEY_NAME,
    SUBMISSION_KEY_FILE,
    generate_submission_key,
    load_submission_key,
)
from vault.config import Config
from vault.errors import ConfigError

DEV_WORKSTATION_HOME = "dev-workstation-gnupg"
DEV_PASSPHRASE_FILE = "dev-workstation-passphrase"  # noqa: S105  # nosec B105


@dataclass(frozen=True)
class SubmissionKeyStatus:
    fingerprint: str
    development: bool
    created: bool


def dev_workstation_home(config: Config) -> Path:
    return config.instance_dir / DEV_WORKSTATION_HOME


def dev_passphrase_file(config: Config) -> Path:
    return config.instance_dir / DEV_PASSPHRASE_FILE


def ensure_submission_key(config: Config, keyrings: Sequence[GpgKeyring]) -> SubmissionKeyStatus:
    """The instance's submission key in each of `keyrings` (the sides that seal); on a
    fresh development instance, a new dev key.

    Raises ConfigError in production when no key is loaded, and when the loaded
    fingerprint's key is in none of the server's homes (a home that lacks it gets it
    from one that has it).
    """
    if (config.instance_dir / SUBMISSION_KEY_FILE).exists():
        fingerprint = read_submission_fingerprint(config.instance_dir)
        holders = [keyring for keyring in keyrings if keyring.has_public_key(fingerprint)]
        if not holders:
            raise ConfigError("the submission public key is not in the server keyring")
        armored = holders[0].export_public(fingerprint)
        for keyring in keyrings:
            if keyring not in holders:
                load_submission_key(config.instance_dir, keyring, armored)
        development = is_development_key(holders[0], fingerprint)
        return SubmissionKeyStatus(fingerprint, development, False)
    if config.production:
        raise ConfigError(
            "no submission key loaded, and a development key is never generated in "
            "production: run `backupctl keys load PUBLIC_KEY.asc`"
        )
    home = dev_workstation_home(config)
    check_gnupg_home(home)
    key = generate_submission_key(home, _dev_passphrase(config), name=DEV_KEY_NAME)
    kill_agent(home)
    for keyring in keyrings:
        fingerprint = load_submission_key(config.instance_dir, keyring, key.public_armored)
    return SubmissionKeyStatus(key.fingerprint, True, True)


def _dev_passphrase(config: Config) -> str:
    """Read the passphrase file, or create it (0600). Kept if a first run was interrupted."""
    path = dev_passphrase_file(config)
    if path.exists():
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
        path.unlink()
    passphrase = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(passphrase + "\n")
    return passphrase
