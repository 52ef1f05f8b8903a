"""One exception hierarchy for the domain; the apps turn these into HTTP answers."""


class VaultError(Exception):
    """Base of every error raised by the domain."""


class ConfigError(VaultError):
    """The configuration is missing or invalid; the process must not start."""


class StoreError(VaultError):
    """The encrypted store refused or failed an operation."""


class SealError(StoreError):
    """Encryption of incoming data failed; nothing was stored."""


class DecryptionError(VaultError):
    """Ciphertext could not be decrypted (wrong key or passphrase, or corrupt data)."""


class OutputTooLargeError(DecryptionError):
    """The plaintext would exceed the limit set for it (a compression bomb, or simply
    more than the item can be): decryption stopped there and nothing is returned."""


class KeyringError(VaultError):
    """The keyring could not carry out a key operation the domain asked of it
    (generating, deleting or exporting a key: vault.ports.ReplyKeys, PublicKeyExport)."""


class ChainError(VaultError):
    """A signed record or a chain of them does not verify; the message names which."""


class TimestampError(VaultError):
    """A time-stamping authority did not answer, or a time-stamp token does not verify
    (signature, certificate chain, or the data it covers); the message says which."""


class EmptySubmissionError(VaultError):
    """A submission with neither a message nor a file."""


class NoReplyKeyError(VaultError):
    """The source has no reply key: it came from a partner organisation's instance by
    transfer (vault.services.case_transfers), with no codename here to read a reply."""


class InvalidCodenameError(VaultError):
    """The codename is malformed (wrong words or length)."""


class LoginThrottledError(VaultError):
    """This client made too many attempts; it may try again in `retry_after` seconds."""

    def __init__(self, message: str = "too many attempts", *, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationError(VaultError):
    """Credentials do not match. Deliberately says nothing about which part failed."""


class TotpReplayError(AuthenticationError):
    """A one-time code was already used."""


class NotFoundError(VaultError):
    """The requested object does not exist (or is not visible to the caller)."""


class StorageFullError(VaultError):
    """The disk is nearly full: new data is refused while room remains for the database
    (what was already accepted stays safe). Deliberately not a StoreError: it is no
    fault of the request, and must never read as "not found"."""


class QuotaExceededError(VaultError):
    """What a source sends would take them past their quota of stored bytes."""

    def __init__(self, quota: int, remaining: int) -> None:
        super().__init__("source quota exceeded")
        self.quota = quota
        self.remaining = max(remaining, 0)
