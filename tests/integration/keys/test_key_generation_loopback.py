"""Keys are made without pinentry, in homes whose agent caches nothing (real gpg).

gpg signs a new key's user id and subkey binding right after making it; an agent that
caches nothing then needs the passphrase again. Asked through pinentry (no terminal
here) that failed, now and then, with "key not created": a survivor's codename refused
at the first page. The passphrase goes by loopback instead (keys.gpg.generate_key).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from keys.gpg import GpgKeyring, batch_key_spec, generate_key, kill_agent, prepare_workstation_home
from vault.errors import KeyringError

PASSPHRASE = "correct horse battery staple of the workstation"


def test_a_workstation_key_is_made_by_loopback_and_opens_with_its_passphrase(
    tmp_path: Path,
) -> None:
    home = prepare_workstation_home(tmp_path / "ws")
    try:
        for _ in range(3):
            fingerprint, status = generate_key(home, batch_key_spec("ws", PASSPHRASE), PASSPHRASE)
            assert fingerprint is not None, status
            assert "PINENTRY_LAUNCHED" not in status, status
        assert fingerprint is not None
        keyring = GpgKeyring(home, server=False)
        sealed = keyring.seal_bytes(b"a marker", [fingerprint])
        assert keyring.open_bytes(sealed, PASSPHRASE) == b"a marker"
    finally:
        kill_agent(home)


def test_reply_keys_are_made_in_a_server_home_without_pinentry(tmp_path: Path) -> None:
    keyring = GpgKeyring(tmp_path / "server")
    try:
        made = [keyring.generate_reply_key(f"source {i}", f"derived-{i}" * 4) for i in range(5)]
        assert len(set(made)) == 5
        sealed = keyring.seal_bytes(b"a reply", [made[-1]])
        assert keyring.open_bytes(sealed, "derived-4" * 4) == b"a reply"
        # A passphrase never goes to gpg's argument list or a file: a pipe only.
        assert not any("derived" in p.name for p in keyring.home.rglob("*"))
    finally:
        kill_agent(keyring.home)


def test_a_portable_reply_key_is_made_and_borrowed_in_throwaway_homes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bk-t-"))  # short: the agent's socket is inside
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    keyring = GpgKeyring(tmp_path / "server")
    try:
        key = keyring.generate_portable_key("source", "derived-p" * 4)
        assert "PRIVATE KEY BLOCK" in key.secret
        assert not keyring.has_secret_key(key.fingerprint)  # this home never holds it
        sealed = keyring.seal_bytes(b"a reply", [key.fingerprint])
        with keyring.borrowed_key(key.fingerprint, key.secret) as borrowed:
            assert borrowed.open_bytes(sealed, "derived-p" * 4) == b"a reply"
        assert list(scratch.iterdir()) == []  # the throwaway homes are gone
    finally:
        kill_agent(keyring.home)
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_temporary_directory_too_long_for_the_agent_socket_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 70)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    keyring = GpgKeyring(tmp_path / "server")
    with pytest.raises(KeyringError, match="too long for gpg-agent's socket"):
        keyring.generate_portable_key("source", "derived-q" * 4)
    assert list(deep.iterdir()) == []
