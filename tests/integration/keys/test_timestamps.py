"""keys.timestamps against a real TSA (`openssl ts` behind HTTP on 127.0.0.1): a token
is asked for, verified offline, and refused when the data, the token or the trusted
certificate differ; the request can go through a SOCKS port, the host name unresolved."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.timestamps import HttpTsa, load_certificates, verify_token
from tests.support.socks_relay import socks_relay
from tests.support.tsa import LocalTsa, local_tsa, make_tsa_ca
from vault.errors import TimestampError
from vault.ports import anchor_message

MESSAGE = anchor_message("custody", 7, "ab" * 32)


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    with local_tsa(tmp_path / "tsa") as running:
        yield running


def _client(tsa: LocalTsa, **options: object) -> HttpTsa:
    certificates = load_certificates(tsa.files.ca_cert.read_bytes())
    return HttpTsa("local", tsa.url, certificates, **options)  # type: ignore[arg-type]


def test_a_token_verifies_offline_and_names_its_time(tsa: LocalTsa) -> None:
    client = _client(tsa)
    stamp = client.stamp(MESSAGE)
    assert verify_token(stamp.token, MESSAGE, client.certificates) == stamp.gen_time
    assert stamp.gen_time.tzinfo is not None
    # openssl itself agrees that the token covers exactly these bytes.
    reply = tsa.files.directory / "reply.tsr"
    reply.write_bytes(stamp.token)
    data = tsa.files.directory / "data"
    data.write_bytes(MESSAGE)
    checked = subprocess.run(
        ["openssl", "ts", "-verify", "-in", str(reply), "-data", str(data),
         "-CAfile", str(tsa.files.ca_cert)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout


def test_other_data_an_altered_token_or_another_certificate_fail(
    tsa: LocalTsa, tmp_path: Path
) -> None:
    client = _client(tsa)
    stamp = client.stamp(MESSAGE)
    with pytest.raises(TimestampError, match="covers other data than this chain position"):
        verify_token(stamp.token, anchor_message("custody", 8, "ab" * 32), client.certificates)
    altered = bytearray(stamp.token)
    altered[-20] ^= 0x01
    with pytest.raises(TimestampError, match="signature does not verify"):
        verify_token(bytes(altered), MESSAGE, client.certificates)
    with pytest.raises(TimestampError, match="not a time-stamp response"):
        verify_token(b"\x30\x03\x02\x01\x00garbage", MESSAGE, client.certificates)
    stranger = load_certificates(make_tsa_ca(tmp_path / "other").ca_cert.read_bytes())
    with pytest.raises(TimestampError, match="not signed under the given TSA certificate"):
        verify_token(stamp.token, MESSAGE, stranger)
    with pytest.raises(TimestampError, match="no TSA certificate"):
        verify_token(stamp.token, MESSAGE, [])


def test_a_certificate_that_is_no_pem_is_named() -> None:
    with pytest.raises(TimestampError, match=r"my\.pem: not a readable PEM"):
        load_certificates(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "my.pem"
        )
    with pytest.raises(TimestampError, match=r"empty\.pem: not a readable PEM"):
        load_certificates(b"", "empty.pem")


def test_a_tsa_down_or_unreachable_is_an_error_not_a_hang(tsa: LocalTsa) -> None:
    tsa.fail = True
    with pytest.raises(TimestampError, match="answered HTTP 503"):
        _client(tsa).stamp(MESSAGE)
    closed = HttpTsa("gone", "http://127.0.0.1:9/", _client(tsa).certificates, timeout=5)
    with pytest.raises(TimestampError, match="gone: no answer"):
        closed.stamp(MESSAGE)


def test_the_request_goes_through_the_socks_port_by_name(tsa: LocalTsa) -> None:
    port = int(tsa.url.rsplit(":", 1)[1].strip("/"))
    with socks_relay() as (proxy, asked):
        client = HttpTsa(
            "local",
            f"http://tsa.invalid:{port}/",  # resolvable by the proxy only
            _client(tsa).certificates,
            socks=proxy,
        )
        stamp = client.stamp(MESSAGE)
    assert asked == [("tsa.invalid", port)]
    assert verify_token(stamp.token, MESSAGE, client.certificates) == stamp.gen_time
