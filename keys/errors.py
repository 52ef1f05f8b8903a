from vault.errors import SealError, VaultError


class KeyOperationError(VaultError):
    """A key operation failed (generation, import, export, deletion)."""


class DecryptionError(VaultError):
    """Ciphertext could not be decrypted (wrong key or passphrase, or corrupt data)."""


class OutputTooLargeError(DecryptionError):
    """The plaintext would exceed the limit set for it (a compression bomb, or simply
    more than the item can be): decryption stopped there and nothing is returned."""


__all__ = ["DecryptionError", "KeyOperationError", "OutputTooLargeError", "SealError"]
