from vault.errors import DecryptionError, OutputTooLargeError, SealError, VaultError


class KeyOperationError(VaultError):
    """A key operation failed (generation, import, export, deletion)."""


# DecryptionError, OutputTooLargeError and SealError are the errors the domain's ports
# document (vault.ports): the adapters here raise them so the domain can catch them.
__all__ = ["DecryptionError", "KeyOperationError", "OutputTooLargeError", "SealError"]
