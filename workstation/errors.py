"""Errors of the air-gapped side, under the domain's one hierarchy."""

from vault.errors import VaultError


class WorkstationError(VaultError):
    """Base of every error raised by the workstation tools."""


class NotOurFileError(WorkstationError):
    """The file is not a BackUp download (unknown name, or content of the wrong kind)."""


class DecryptFailedError(WorkstationError):
    """gpg could not decrypt a file: another key, a wrong passphrase, or corrupt data."""
