from vault.errors import SealError, VaultError


class KeyOperationError(VaultError):
    """A key operation failed (generation, import, export, deletion)."""


class DecryptionError(VaultError):
    """Ciphertext could not be decrypted (wrong key or passphrase, or corrupt data)."""


__all__ = ["DecryptionError", "KeyOperationError", "SealError"]
