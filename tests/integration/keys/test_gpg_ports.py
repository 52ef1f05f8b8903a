"""The gpg adapter as the domain sees it, with real gpg: it is a vault.ports.Keyring,
its port methods raise the errors the port documents (the domain's), and what is keys'
own business (importing keys) raises keys' own KeysError."""

from __future__ import annotations

import pytest

from keys.errors import KeyOperationError, KeysError
from keys.gpg import GpgKeyring
from tests.support.sealing import encrypt_to
from vault.errors import KeyringError, VaultError
from vault.ports import Keyring

PASSPHRASE = "a derived passphrase of a reply key"


def test_recipients_of_names_the_encryption_subkey(keyring: GpgKeyring) -> None:
    port: Keyring = keyring  # mypy: GpgKeyring satisfies the whole port
    fpr = port.generate_reply_key("recipients test", PASSPHRASE)
    other = port.generate_reply_key("someone else", PASSPHRASE)
    armored = encrypt_to(keyring, b"a reply", [fpr]).decode()
    named = port.recipients_of(armored)
    assert named and named <= port.key_ids(fpr)
    assert not named & port.key_ids(other)
    assert all(key_id == key_id.upper() for key_id in named)


def test_port_methods_raise_the_domains_keyring_error(keyring: GpgKeyring) -> None:
    port: Keyring = keyring
    with pytest.raises(KeyringError, match="no such public key"):
        port.export_public("0" * 40)
    with pytest.raises(KeyringError, match="single lines"):
        port.generate_reply_key("two\nlines", PASSPHRASE)
    port.delete_key("0" * 40)  # a missing key is not an error
    assert issubclass(KeyringError, VaultError)


def test_keys_own_operations_raise_keys_errors(keyring: GpgKeyring) -> None:
    with pytest.raises(KeyOperationError) as refused:
        keyring.import_keys("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n")
    assert isinstance(refused.value, KeysError)
    assert not isinstance(refused.value, VaultError)
