"""The configured time-stamping authorities as adapters (keys.timestamps.HttpTsa), and
the check of a stored token against the certificate configured for its TSA."""

from __future__ import annotations

from cryptography import x509

from keys.timestamps import HttpTsa, load_certificates, verify_token
from vault.config import Config
from vault.errors import ConfigError, TimestampError

__all__ = ["TokenChecker", "authorities", "certificates", "token_checker"]


def certificates(config: Config) -> dict[str, list[x509.Certificate]]:
    """Each configured TSA's trusted certificates, by name; ConfigError if one is
    missing or unreadable."""
    found = {}
    for entry in config.tsa.authorities:
        try:
            pem = entry.certificate.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"TSA {entry.name}: put the certificate its tokens chain to in {entry.certificate}"
            ) from None
        try:
            found[entry.name] = load_certificates(pem, str(entry.certificate))
        except TimestampError as exc:
            raise ConfigError(str(exc)) from None
    return found


def authorities(config: Config) -> list[HttpTsa]:
    """One HttpTsa per configured TSA. ConfigError if a certificate is missing, or, in
    production, if no Tor SOCKS port is set (the server makes no clearnet connection)."""
    tsa = config.tsa
    if config.production and tsa.authorities and tsa.socks is None:
        raise ConfigError("BACKUP_TSA_SOCKS is required in production: TSAs are reached over Tor")
    trusted = certificates(config)
    return [
        HttpTsa(entry.name, entry.url, trusted[entry.name], tsa.socks, tsa.timeout)
        for entry in tsa.authorities
    ]


class TokenChecker:
    """Checks a stored token against the certificate configured for the TSA it names."""

    def __init__(self, trusted: dict[str, list[x509.Certificate]]) -> None:
        self.trusted = trusted

    def __call__(self, tsa: str, token: bytes, message: bytes) -> object:
        known = self.trusted.get(tsa)
        if known is None:
            raise TimestampError(f"{tsa} is not a configured TSA (no certificate to check it)")
        return verify_token(token, message, known)


def token_checker(config: Config) -> TokenChecker:
    """Offline: needs the certificates only, never the network."""
    return TokenChecker(certificates(config))
