"""The reply-key wrap key (vault.services.reply_keys): derived from the source app's
reply-key pepper alone, and a sealed key opens only for its own row, purpose and pepper."""

from __future__ import annotations

import pytest

from vault.column_key import ColumnKey, SealedColumnError
from vault.services import reply_keys

PEPPER = b"p" * 32
SECRET = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlocked\n-----END PGP PRIVATE KEY BLOCK-----\n"


def test_every_server_with_the_same_pepper_opens_it() -> None:
    sealed = reply_keys.wrap_key(PEPPER).seal(SECRET, reply_keys.PURPOSE, "row-1")
    assert sealed.startswith("v1:") and "PRIVATE" not in sealed
    assert reply_keys.wrap_key(PEPPER).open(sealed, reply_keys.PURPOSE, "row-1") == SECRET


@pytest.mark.parametrize(
    ("pepper", "purpose", "row"),
    [
        (b"q" * 32, reply_keys.PURPOSE, "row-1"),  # another instance's secrets
        (PEPPER, "totp-secret", "row-1"),  # copied into another column
        (PEPPER, reply_keys.PURPOSE, "row-2"),  # copied onto another source's row
    ],
)
def test_it_opens_nowhere_else(pepper: bytes, purpose: str, row: str) -> None:
    sealed = reply_keys.wrap_key(PEPPER).seal(SECRET, reply_keys.PURPOSE, "row-1")
    with pytest.raises(SealedColumnError):
        reply_keys.wrap_key(pepper).open(sealed, purpose, row)


def test_the_wrap_key_is_not_the_pepper_itself() -> None:
    """Domain separation: the pepper's other use (the scrypt salt of the passphrase)
    and this key are different keys."""
    sealed = ColumnKey(PEPPER).seal(SECRET, reply_keys.PURPOSE, "row-1")
    with pytest.raises(SealedColumnError):
        reply_keys.wrap_key(PEPPER).open(sealed, reply_keys.PURPOSE, "row-1")
