"""The configured time-stamping authorities as adapters (keys.timestamps.HttpTsa), and
the check of a stored token against the certificate configured for its TSA."""

from __future__ import annotations

from cryptography import x509

from keys.timestamps import HttpTsa, load_certificates, verify_token
from vault.config import Config
from vault.errors import ConfigError, TimestampError
from vault.tsa_config import TsaEntry

__all__ = ["TokenChecker", "authorities", "certificates", "token_checker"]


def _certificates_of(entry: TsaEntry) -> list[x509.Certificate]:
    """One TSA's trusted certificates; ConfigError if the file is missing or unreadable."""
    try:
        pem = entry.certificate.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"TSA {entry.name}: put the certificate its tokens chain to in {entry.certificate}"
        ) from None
    try:
        return load_certificates(pem, str(entry.certificate))
    except TimestampError as exc:
        raise ConfigError(str(exc)) from None


def certificates(config: Config) -> dict[str, list[x509.Certificate]]:
    """Each configured TSA's trusted certificates, by name; ConfigError if one is
    missing or unreadable."""
    return {entry.name: _certificates_of(entry) for entry in config.tsa.authorities}


def authorities(config: Config) -> tuple[list[HttpTsa], dict[str, str]]:
    """(one HttpTsa per configured TSA whose certificate is readable, what is wrong with
    each of the others by name): a TSA without its certificate cannot anchor, and does
    not keep the others from anchoring. ConfigError, in production, if no Tor SOCKS
    port is set (the server makes no clearnet connection)."""
    tsa = config.tsa
    if config.production and tsa.authorities and tsa.socks is None:
        raise ConfigError("BACKUP_TSA_SOCKS is required in production: TSAs are reached over Tor")
    usable, unusable = [], {}
    for entry in tsa.authorities:
        try:
            trusted = _certificates_of(entry)
        except ConfigError as exc:
            unusable[entry.name] = str(exc)
            continue
        usable.append(HttpTsa(entry.name, entry.url, trusted, tsa.socks, tsa.timeout))
    return usable, unusable


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
