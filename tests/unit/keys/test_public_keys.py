"""gpg's `--with-colons` listing of a key block, read (pure logic)."""

from __future__ import annotations

from keys.public_keys import PublicKeyInfo, _parse

LISTING = """\
pub:u:255:22:1111111111111111:1700000000:::u:::scESC:::::ed25519:::0:
fpr:::::::::AAAA1111111111111111111111111111111111AA:
uid:u::::1700000000::HASH::BackUp account x::::::::::0:
sub:u:255:18:2222222222222222:1700000000::::::e:::::cv25519::
fpr:::::::::BBBB2222222222222222222222222222222222BB:
pub:u:255:22:3333333333333333:1700000000:::u:::scSC:::::ed25519:::0:
fpr:::::::::CCCC3333333333333333333333333333333333CC:
sub:r:255:18:4444444444444444:1700000000::::::e:::::cv25519::
fpr:::::::::DDDD4444444444444444444444444444444444DD:
"""


def test_the_listing_gives_each_key_its_ids_and_usable_encryption_keys() -> None:
    assert _parse(LISTING) == [
        PublicKeyInfo(
            "AAAA1111111111111111111111111111111111AA",
            False,
            ("1111111111111111", "2222222222222222"),
            ("2222222222222222",),
        ),
        # Its only encryption subkey is revoked: it encrypts nothing.
        PublicKeyInfo(
            "CCCC3333333333333333333333333333333333CC",
            False,
            ("3333333333333333", "4444444444444444"),
            (),
        ),
    ]


def test_nothing_readable_is_no_key() -> None:
    assert _parse("") == []
    assert _parse("tru::1:1700000000:0:3:1:5\n") == []
