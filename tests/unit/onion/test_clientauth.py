"""Reviewer client-authorization keys on disk: formats tor accepts, and a reviewer
service that can never become public by revoking its last key."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from onion import clientauth
from onion.errors import ClientAuthError

ADDRESS = "b" * 56 + ".onion"


def _service(tmp_path: Path) -> Path:
    service = tmp_path / "journalist"
    service.mkdir()
    (service / "hostname").write_text(ADDRESS + "\n")
    return service


def _raw(b32: str) -> bytes:
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


class TestKeys:
    """The public half on the server, the private half printed for Tor Browser."""

    def test_add_writes_the_public_half_and_returns_a_matching_private_half(
        self, tmp_path: Path
    ) -> None:
        service = _service(tmp_path)
        key = clientauth.add_client(service, "alice-laptop")
        auth = (service / "authorized_clients" / "alice-laptop.auth").read_text().strip()
        assert auth == f"descriptor:x25519:{key.public_b32}"
        assert len(key.public_b32) == 52 and len(key.private_b32) == 52
        derived = X25519PrivateKey.from_private_bytes(_raw(key.private_b32)).public_key()
        assert derived.public_bytes(Encoding.Raw, PublicFormat.Raw) == _raw(key.public_b32)
        line = clientauth.auth_private_line(clientauth.onion_address(service), key)
        assert line == f"{'b' * 56}:descriptor:x25519:{key.private_b32}"
        assert key.private_b32 not in repr(key)
        mode = (service / "authorized_clients" / "alice-laptop.auth").stat().st_mode
        assert mode & 0o077 == 0

    def test_names_are_checked_and_never_reused(self, tmp_path: Path) -> None:
        service = _service(tmp_path)
        clientauth.add_client(service, "bob")
        with pytest.raises(ClientAuthError, match="already exists"):
            clientauth.add_client(service, "bob")
        for bad in ("../x", "a b", "", "_nobody", "x" * 64, "Bob"):
            with pytest.raises(ClientAuthError):
                clientauth.add_client(service, bad)


class TestOwnership:
    """tor runs as its own user: the keys an admin installs as root must stay readable."""

    def test_keys_belong_to_the_owner_of_the_service_directory(self, tmp_path: Path) -> None:
        if os.geteuid() != 0:
            pytest.fail("this test needs root (as the test command runs)")
        service = _service(tmp_path)
        os.chown(service, 65534, 65534)  # nobody, as debian-tor would own it
        clientauth.add_client(service, "alice")
        for path in (service / "authorized_clients").rglob("*"):
            assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534), path
        assert (service / "authorized_clients").stat().st_uid == 65534


class TestNeverPublic:
    """An empty authorized_clients/ would make tor publish the service for everyone."""

    def test_revoking_the_last_reviewer_leaves_the_lock_key(self, tmp_path: Path) -> None:
        service = _service(tmp_path)
        clientauth.add_client(service, "alice")
        clientauth.revoke_client(service, "alice")
        assert clientauth.list_clients(service) == []
        assert clientauth.is_locked(service)
        assert [p.name for p in (service / "authorized_clients").iterdir()] == ["_nobody.auth"]

    def test_revoking_an_unknown_key_fails_clearly(self, tmp_path: Path) -> None:
        with pytest.raises(ClientAuthError, match="no reviewer key named"):
            clientauth.revoke_client(_service(tmp_path), "carol")

    def test_an_address_file_must_hold_a_v3_address(self, tmp_path: Path) -> None:
        service = _service(tmp_path)
        (service / "hostname").write_text("example.onion\n")
        with pytest.raises(ClientAuthError):
            clientauth.onion_address(service)


def test_a_peers_public_half_is_installed_and_our_key_for_its_service_held(
    tmp_path: Path,
) -> None:
    service = tmp_path / "federation"
    public = clientauth.generate("peer").public_b32
    clientauth.authorize_public(service, "peer", public)
    assert (service / "authorized_clients/peer.auth").read_text() == (
        f"descriptor:x25519:{public}\n"
    )
    assert clientauth.is_locked(service)
    with pytest.raises(ClientAuthError):
        clientauth.authorize_public(service, "peer", public)  # never overwritten
    with pytest.raises(ClientAuthError, match="x25519"):
        clientauth.authorize_public(service, "other", "not-a-key")

    auth_dir = tmp_path / "clients"
    private = clientauth.generate("ours").private_b32
    address = "b" * 56 + ".onion"
    clientauth.hold_service_key(auth_dir, "peer", address, private)
    held = auth_dir / "peer.auth_private"
    assert held.read_text() == f"{'b' * 56}:descriptor:x25519:{private}\n"
    assert held.stat().st_mode & 0o777 == 0o600
    assert auth_dir.stat().st_mode & 0o777 == 0o700
    with pytest.raises(ClientAuthError, match="onion"):
        clientauth.hold_service_key(auth_dir, "x", "example.com", private)
    assert clientauth.forget_service_key(auth_dir, "peer")
    assert not held.exists()
    assert not clientauth.forget_service_key(auth_dir, "peer")
