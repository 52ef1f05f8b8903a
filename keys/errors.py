"""Errors of the keys package, rooted at `KeysError`.

The methods that implement one of the domain's ports (vault.ports) raise the errors
the port documents, which are the domain's own (vault.errors): SealError,
DecryptionError and OutputTooLargeError (sealing and opening), KeyringError (a reply
or account key the domain asked to generate, delete or export), ChainError (a chain
of signed records that does not verify). They are re-exported here so callers of keys
can name them. Everything else keys refuses (importing or loading a key, the
submission key's lifecycle, exporting a secret key) is a KeysError.
"""

from vault.errors import ChainError, DecryptionError, KeyringError, OutputTooLargeError, SealError


class KeysError(Exception):
    """Base of the errors of the keys package (not of the domain's: see above)."""


class KeyOperationError(KeysError):
    """A key operation failed (generation, import, export, deletion, loading)."""


__all__ = [
    "ChainError",
    "DecryptionError",
    "KeyOperationError",
    "KeyringError",
    "KeysError",
    "OutputTooLargeError",
    "SealError",
]
