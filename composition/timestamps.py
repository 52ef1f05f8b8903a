"""The configured time-stamping authorities as adapters (keys.timestamps.HttpTsa), and
the check of a stored token against the certificate configured for its TSA."""

from __future__ import annotations

from keys.timestamps import HttpTsa, load_certificates, verify_token
from vault.config import Config
from vault.errors import ConfigError, TimestampError

__all__ = ["authorities", "token_checker"]


def authorities(config: Config) -> list[HttpTsa]:
    """One HttpTsa per configured TSA. ConfigError if a certificate is missing, or, in
    production, if no Tor SOCKS port is set (the server makes no clearnet connection)."""
    tsa = config.tsa
    if config.production and tsa.authorities and tsa.socks is None:
        raise ConfigError("BACKUP_TSA_SOCKS is required in production: TSAs are reached over Tor")
    made = []
    for entry in tsa.authorities:
        try:
            pem = entry.certificate.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"TSA {entry.name}: put the certificate its tokens chain to in {entry.certificate}"
            ) from None
        try:
            certificates = load_certificates(pem, str(entry.certificate))
        except TimestampError as exc:
            raise ConfigError(str(exc)) from None
        made.append(HttpTsa(entry.name, entry.url, certificates, tsa.socks, tsa.timeout))
    return made


def token_checker(config: Config) -> TokenChecker:
    return TokenChecker({tsa.name: tsa for tsa in authorities(config)})


class TokenChecker:
    """Checks a stored token against the certificate configured for the TSA named."""

    def __init__(self, by_name: dict[str, HttpTsa]) -> None:
        self.by_name = by_name

    def __call__(self, tsa: str, token: bytes, message: bytes) -> object:
        known = self.by_name.get(tsa)
        if known is None:
            raise TimestampError(f"{tsa} is not a configured TSA (no certificate to check it)")
        return verify_token(token, message, known.certificates)
