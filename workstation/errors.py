"""Errors of the air-gapped side, rooted at `WorkstationError` (not the domain's
VaultError: the workstation is no part of the server's domain)."""


class WorkstationError(Exception):
    """Base of every error raised by the workstation tools."""


class NotOurFileError(WorkstationError):
    """The file is not a BackUp download (unknown name, or content of the wrong kind)."""


class DecryptFailedError(WorkstationError):
    """gpg could not decrypt a file: another key, a wrong passphrase, or corrupt data."""
