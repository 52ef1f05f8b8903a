"""One exception hierarchy for the domain; the apps turn these into HTTP answers."""


class VaultError(Exception):
    """Base of every error raised by the domain."""


class ConfigError(VaultError):
    """The configuration is missing or invalid; the process must not start."""


class StoreError(VaultError):
    """The encrypted store refused or failed an operation."""


class SealError(StoreError):
    """Encryption of incoming data failed; nothing was stored."""


class EmptySubmissionError(VaultError):
    """A submission with neither a message nor a file."""


class InvalidCodenameError(VaultError):
    """The codename is malformed (wrong words or length)."""


class LoginThrottledError(VaultError):
    """Too many login attempts; try again later."""


class AuthenticationError(VaultError):
    """Credentials do not match. Deliberately says nothing about which part failed."""


class TotpReplayError(AuthenticationError):
    """A one-time code was already used."""


class NotFoundError(VaultError):
    """The requested object does not exist (or is not visible to the caller)."""
