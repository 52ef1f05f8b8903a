"""RFC 3161 time-stamps: asking a time-stamping authority (TSA), and verifying a token
offline against the TSA certificate an admin configured.

The ASN.1 and CMS work is rfc3161-client's (a maintained library, its parser in Rust):
building the request with a nonce, parsing the response, checking its signature chains
to a configured certificate at the token's own time, that the signer's certificate is
for time-stamping only (critical extendedKeyUsage), and that the token covers exactly
the SHA-256 of our message. Nothing here parses DER by hand.

The request goes over plain HTTP (a token is signed: a network in the middle can
withhold it, not forge it) or HTTPS, and through Tor's SOCKS port when one is given,
so the server never opens a clearnet connection of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from onion.errors import OnionError
from onion.socks import connect_through
from vault.errors import TimestampError
from vault.ports import Stamp, anchor_message

__all__ = [
    "HttpTsa",
    "TimestampError",
    "anchor_message",
    "certificate_fingerprint",
    "load_certificates",
    "verify_token",
]

_MAX_RESPONSE = 64 * 1024  # a time-stamp response is a few KiB


def load_certificates(pem: bytes, label: str = "TSA certificate") -> list[x509.Certificate]:
    """Every certificate of a PEM file; TimestampError if there is none or it is damaged."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TimestampError(f"{label}: not a readable PEM certificate ({exc})") from None
    if not certificates:
        raise TimestampError(f"{label}: no certificate in it")
    return certificates


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, in hex: what an admin or a court compares."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def verify_token(
    token: bytes,
    message: bytes,
    certificates: Sequence[x509.Certificate],
    *,
    nonce: int | None = None,
) -> dt.datetime:
    """Check `token` (a DER time-stamp response) covers `message` and is signed by a TSA
    whose certificate chains to one of `certificates`; its time (UTC). TimestampError
    says what is wrong otherwise."""
    if not certificates:
        raise TimestampError("no TSA certificate to verify the token against")
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        raise TimestampError(f"not a time-stamp response ({exc})") from None
    builder = VerifierBuilder()
    for certificate in certificates:
        builder = builder.add_root_certificate(certificate)
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        imprint = response.tst_info.message_imprint
        if imprint.hash_algorithm != x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1"):
            raise TimestampError("the token does not use SHA-256")
        builder.build().verify(response, hashlib.sha256(message).digest())
    except VerificationError as exc:
        raise TimestampError(_explain(str(exc))) from None
    except ValueError as exc:  # a malformed part of an otherwise parsed response
        raise TimestampError(f"the token does not verify: {exc}") from None
    gen_time = response.tst_info.gen_time
    return gen_time if gen_time.tzinfo else gen_time.replace(tzinfo=dt.UTC)


def _explain(problem: str) -> str:
    """The library's reason, in words a clerk can act on (its detail kept at the end)."""
    if "Mismatch between messages" in problem:
        return "the token covers other data than this chain position"
    if "issuer" in problem:
        return (
            "the token is not signed under the given TSA certificate "
            "(another TSA, or a replaced certificate)"
        )
    if "signature failure" in problem:
        return "the token's signature does not verify (the token was altered)"
    return f"the token does not verify: {problem[:300]}"


class _SocksHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, socks: tuple[str, int], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._socks = socks

    def connect(self) -> None:
        self.sock = connect_through(*self._socks, self.host, self.port, self.timeout or 60.0)


class _SocksHTTPSConnection(_SocksHTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


@dataclass(frozen=True)
class HttpTsa:
    """A TSA reached at `url` (through Tor when `socks` is set), trusted as far as
    `certificates` (its issuing CA, or its own certificate) go."""

    name: str
    url: str
    certificates: Sequence[x509.Certificate] = field(repr=False)
    socks: tuple[str, int] | None = None
    timeout: float = 60.0

    def stamp(self, message: bytes) -> Stamp:
        request = (
            TimestampRequestBuilder()
            .data(message)
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        token = self._post(request.as_bytes())
        gen_time = verify_token(token, message, self.certificates, nonce=request.nonce)
        return Stamp(token, gen_time)

    def _connection(self) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TimestampError(f"{self.name}: not an http(s) URL: {self.url}")
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        if self.socks is not None:
            kind = _SocksHTTPSConnection if https else _SocksHTTPConnection
            return kind(parts.hostname, port, self.socks, self.timeout), path
        if https:
            return http.client.HTTPSConnection(parts.hostname, port, timeout=self.timeout), path
        return http.client.HTTPConnection(parts.hostname, port, timeout=self.timeout), path

    def _post(self, query: bytes) -> bytes:
        connection, path = self._connection()
        try:
            connection.request(
                "POST", path, body=query, headers={"Content-Type": "application/timestamp-query"}
            )
            answer = connection.getresponse()
            body = answer.read(_MAX_RESPONSE + 1)
        except (OSError, OnionError, http.client.HTTPException) as exc:
            raise TimestampError(f"{self.name}: no answer ({exc})") from None
        finally:
            connection.close()
        if answer.status != 200:
            raise TimestampError(f"{self.name}: answered HTTP {answer.status}")
        if len(body) > _MAX_RESPONSE:
            raise TimestampError(f"{self.name}: answer too large")
        return body
