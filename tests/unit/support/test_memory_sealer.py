"""The in-memory twin of the keyring is a vault.ports.Keyring (for mypy, and checked
here at run time against the Protocol, beside the real adapter), and it keeps the
contract the unit tests rely on: real ciphertext, checked passphrases and limits."""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

import pytest
from mypy import api as mypy_api

from keys.gpg import GpgKeyring
from tests.support import memory_sealer
from tests.support.memory_sealer import MemorySealer, armor, as_port
from vault.errors import DecryptionError, KeyringError, OutputTooLargeError, SealError
from vault.ports import Keyring, SealStream

PASSPHRASE = "a derived passphrase"
ROOT = Path(__file__).resolve().parents[3]
TWIN = Path(memory_sealer.__file__)


def _members(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(protocol, name))
        for name in dir(protocol)
        if not name.startswith("_") and callable(getattr(protocol, name))
    }


def _shape(signature: inspect.Signature) -> list[tuple[str, inspect._ParameterKind]]:
    return [(p.name, p.kind) for p in signature.parameters.values()]


@pytest.mark.parametrize("adapter", [MemorySealer, GpgKeyring])
def test_the_twin_and_the_adapter_have_every_method_of_the_port(adapter: type) -> None:
    wanted = _members(Keyring)
    assert {"seal_stream", "open_bytes", "recipients_of", "export_public"} <= set(wanted)
    for name, signature in wanted.items():
        assert callable(getattr(adapter, name, None)), name
        assert _shape(inspect.signature(getattr(adapter, name))) == _shape(signature), name


def test_mypy_finds_the_twin_conforming_to_the_port() -> None:
    """mypy on the twin (its `as_port` returns it as a Keyring, `as_stream` its stream
    as a SealStream), with the project's settings: tests/ is out of `mypy .`."""
    result = mypy_api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", str(TWIN)]
    )
    assert result[2] == 0, result[0] + result[1]


def test_the_twin_as_the_port(tmp_path: Path) -> None:
    port: Keyring = as_port(MemorySealer())
    fpr = port.generate_reply_key("twin", PASSPHRASE)
    stream: SealStream = port.seal_stream([fpr], tmp_path / "out")
    stream.write(b"in flight")
    stream.abort()
    assert not (tmp_path / "out").exists()


def test_bytes_are_really_sealed_and_only_the_passphrase_opens_them() -> None:
    sealer = MemorySealer()
    fpr = sealer.generate_reply_key("twin", PASSPHRASE)
    plaintext = b"marker-" + os.urandom(16).hex().encode() * 10
    sealed = sealer.seal_bytes(plaintext, [fpr])
    assert plaintext not in sealed and plaintext[:20] not in sealed
    assert sealer.open_bytes(sealed, PASSPHRASE) == plaintext
    with pytest.raises(DecryptionError):
        sealer.open_bytes(sealed, "another passphrase")
    with pytest.raises(DecryptionError):
        sealer.open_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]), PASSPHRASE)
    with pytest.raises(OutputTooLargeError):
        sealer.open_bytes(sealed, PASSPHRASE, max_output=len(plaintext) - 1)
    with pytest.raises(SealError):
        sealer.seal_bytes(plaintext, ["F" * 40])
    with pytest.raises(SealError):
        sealer.seal_bytes(plaintext, [])


def test_a_stream_writes_ciphertext_as_it_comes_with_its_digest(tmp_path: Path) -> None:
    sealer = MemorySealer()
    fpr = sealer.generate_reply_key("twin", PASSPHRASE)
    data = os.urandom(300_000)
    stream = sealer.seal_stream([fpr], tmp_path / "out")
    stream.write(data[:100_000])
    assert (tmp_path / "out").stat().st_size >= 100_000  # on disk before the end
    stream.write_parts([data[100_000:200_000], memoryview(data)[200_000:]])
    stream.close()
    written = (tmp_path / "out").read_bytes()
    assert data[1000:1100] not in written
    assert stream.size == len(written)
    assert stream.sha256 == hashlib.sha256(written).hexdigest()
    assert sealer.open_bytes(written, PASSPHRASE, max_output=1 << 20) == data


def test_keys_and_recipients() -> None:
    sealer = MemorySealer()
    one = sealer.generate_reply_key("one", PASSPHRASE)
    two = sealer.generate_reply_key("two", PASSPHRASE)
    named = sealer.recipients_of(armor(sealer.seal_bytes(b"x", [one])))
    assert named == sealer.key_ids(one) and not named & sealer.key_ids(two)
    assert sealer.recipients_of("not a message") == set()
    assert sealer.has_secret_key(one) and sealer.export_public(one)
    sealer.delete_key(one)
    sealer.delete_key(one)  # a missing key is not an error
    assert not sealer.has_public_key(one) and sealer.key_ids(one) == set()
    with pytest.raises(KeyringError):
        sealer.export_public(one)
    with pytest.raises(KeyringError):
        sealer.generate_reply_key("two\nlines", PASSPHRASE)
