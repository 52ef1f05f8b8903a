"""`GpgKeyring.open_bytes` never returns more than its limit, with real gpg: a plaintext
at the limit opens, one byte more is refused (never truncated), and a bzip2 bomb stops
at the limit instead of expanding."""

from __future__ import annotations

import pytest

from keys.errors import DecryptionError, OutputTooLargeError
from keys.gpg import GpgKeyring
from tests.support.sealing import encrypt_to

PASSPHRASE = "a derived passphrase of a reply key"


def test_limit_is_exact_and_never_truncates(keyring: GpgKeyring) -> None:
    fpr = keyring.generate_reply_key("limit test", PASSPHRASE)
    plaintext = b"x" * 10_000
    sealed = keyring.seal_bytes(plaintext, [fpr])
    assert keyring.open_bytes(sealed, PASSPHRASE, max_output=10_000) == plaintext
    with pytest.raises(OutputTooLargeError):
        keyring.open_bytes(sealed, PASSPHRASE, max_output=9_999)
    # Over the limit is still a DecryptionError for callers that treat both alike.
    with pytest.raises(DecryptionError):
        keyring.open_bytes(sealed, PASSPHRASE, max_output=100)
    with pytest.raises(DecryptionError) as wrong:
        keyring.open_bytes(sealed, "not the passphrase", max_output=10_000)
    assert not isinstance(wrong.value, OutputTooLargeError)


def test_bzip2_bomb_stops_at_the_limit(keyring: GpgKeyring) -> None:
    fpr = keyring.generate_reply_key("bomb test", PASSPHRASE)
    bomb = encrypt_to(
        keyring,
        bytes(32 * 1024 * 1024),
        [fpr],
        armor=False,
        options=["--compress-algo", "bzip2", "--compress-level", "9"],
    )
    assert len(bomb) < 4096
    with pytest.raises(OutputTooLargeError):
        keyring.open_bytes(bomb, PASSPHRASE, max_output=200_000)
