"""The onionbalance files (pure): the master key's care, config.yaml, ob_config, and the
backend and frontend torrc lines."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

from onion import balance
from onion.errors import TorConfigError
from onion.torrc import ServerTorrc, render_server_torrc


def _address() -> str:
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return HiddenServiceDescriptorV3.address_from_identity_key(public)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestMasterKey:
    """The master key IS the source address: created once, private, never replaced."""

    def test_created_private_and_read_back(self, tmp_path: Path) -> None:
        directory = tmp_path / "ob"
        frontend = balance.create_frontend(directory)
        assert _mode(directory) == 0o700
        assert _mode(frontend.key_file) == 0o600
        assert frontend.key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        assert balance.normalize_address(frontend.address) == frontend.address
        assert balance.load_frontend(directory).address == frontend.address

    def test_never_replaced(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        before = frontend.key_file.read_bytes()
        with pytest.raises(TorConfigError, match="IS the source address"):
            balance.create_frontend(tmp_path / "ob")
        assert frontend.key_file.read_bytes() == before

    def test_a_key_others_can_read_is_refused(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        os.chmod(frontend.key_file, 0o644)
        with pytest.raises(TorConfigError, match="mode 600"):
            balance.load_frontend(frontend.directory)

    def test_a_directory_others_can_read_is_refused(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        os.chmod(frontend.directory, 0o750)  # noqa: S103 - the unsafe mode under test
        with pytest.raises(TorConfigError, match="readable by others"):
            balance.load_frontend(frontend.directory)

    def test_a_symlinked_key_is_refused(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        moved = tmp_path / "elsewhere.key"
        frontend.key_file.rename(moved)
        frontend.key_file.symlink_to(moved)
        with pytest.raises(TorConfigError, match="regular file"):
            balance.load_frontend(frontend.directory)


class TestBackends:
    """config.yaml lists the backends as onionbalance-config would write it."""

    def test_config_yaml_lists_each_backend(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        backends = [_address(), _address()]
        written = balance.write_frontend_config(frontend.directory, backends)
        data = yaml.safe_load(written.config_file.read_text())
        assert data == {
            "services": [
                {
                    "key": "master.key",
                    "instances": [
                        {"address": backends[0].removesuffix(".onion"), "name": "backend1"},
                        {"address": backends[1].removesuffix(".onion"), "name": "backend2"},
                    ],
                }
            ]
        }
        assert _mode(written.config_file) == 0o640
        assert balance.load_frontend(frontend.directory).instances == tuple(backends)

    def test_changing_the_backends_keeps_the_key(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        balance.write_frontend_config(frontend.directory, [_address(), _address()])
        kept = _address()
        again = balance.write_frontend_config(frontend.directory, [kept])
        assert again.address == frontend.address
        assert balance.load_frontend(frontend.directory).instances == (kept,)

    @pytest.mark.parametrize(
        ("backends", "error"),
        [
            ([], "at least one"),
            (["not-an-address"], "not a v3 onion address"),
            (["a" * 56], "bad checksum"),
            (["same"], "listed twice"),
            (["master"], "own address"),
            (["many"], "at most 8"),
        ],
    )
    def test_bad_backend_lists_are_refused(
        self, tmp_path: Path, backends: list[str], error: str
    ) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        if backends == ["same"]:
            one = _address()
            backends = [one, one.removesuffix(".onion")]
        elif backends == ["master"]:
            backends = [_address(), frontend.address]
        elif backends == ["many"]:
            backends = [_address() for _ in range(9)]
        with pytest.raises(TorConfigError, match=error):
            balance.write_frontend_config(frontend.directory, backends)
        assert not frontend.config_file.exists()


class TestBackendSide:
    """Each backend's tor: ob_config, and the torrc line in the source service only."""

    def test_ob_config_names_the_master(self, tmp_path: Path) -> None:
        master = _address()
        path = balance.write_instance_config(tmp_path / "hs" / "source", master.upper())
        assert path.read_text() == f"MasterOnionAddress {master}\n"
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700

    def test_ob_config_refuses_a_bad_address(self, tmp_path: Path) -> None:
        with pytest.raises(TorConfigError):
            balance.write_instance_config(tmp_path, "x.onion\nHiddenServiceSingleHopMode 1")
        assert not (tmp_path / balance.OB_CONFIG_FILE).exists()

    def test_the_source_service_is_an_instance_the_reviewer_one_is_not(self) -> None:
        text = render_server_torrc(ServerTorrc(onionbalance_instance=True))
        source, journalist = text.split("# journalist interface")
        assert "HiddenServiceOnionbalanceInstance 1" in source
        assert "HiddenServiceOnionbalanceInstance" not in journalist
        assert "HiddenServiceOnionbalanceInstance" not in render_server_torrc(ServerTorrc())

    def test_a_backend_without_the_reviewer_interface(self) -> None:
        text = render_server_torrc(
            ServerTorrc(onionbalance_instance=True, journalist_service=False)
        )
        assert "HiddenServiceDir /var/lib/tor/backup/source" in text
        assert "journalist" not in text


class TestFrontendTorrc:
    """The frontend's tor serves nothing and relays nothing: onionbalance's client."""

    def test_no_service_no_socks_a_control_socket(self) -> None:
        lines = balance.render_frontend_torrc(balance.FrontendTorrc()).splitlines()
        assert not [line for line in lines if line.startswith("HiddenService")]
        assert "SocksPort 0" in lines
        assert "ORPort 0" in lines
        assert "ControlSocket /run/tor/control RelaxDirModeCheck" in lines
        assert not [line for line in lines if line.startswith("ControlPort")]

    def test_paths_with_line_breaks_are_refused(self) -> None:
        with pytest.raises(TorConfigError):
            balance.render_frontend_torrc(
                balance.FrontendTorrc(data_dir=PurePosixPath("/x\nSocksPort 0.0.0.0:9050"))
            )


class TestRenderedForAnsible:
    """What the playbook's filters lay down (ansible/filter_plugins/backup.py): the same
    files as `backupctl onion balance` writes, from the master key given as input."""

    def test_the_master_keys_address_is_the_frontends(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        pem = frontend.key_file.read_bytes()
        assert balance.master_key_address(pem) == frontend.address

    def test_a_key_that_is_not_an_ed25519_pem_is_refused(self) -> None:
        with pytest.raises(TorConfigError, match="not a PEM private key"):
            balance.master_key_address(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n")

    def test_the_config_is_the_one_backends_writes(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        backends = [_address(), _address()]
        written = balance.write_frontend_config(frontend.directory, backends)
        rendered = balance.render_frontend_config(frontend.address, backends)
        assert rendered == written.config_file.read_text()

    def test_the_config_refuses_the_frontends_own_address(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        with pytest.raises(TorConfigError, match="frontend's own address"):
            balance.render_frontend_config(frontend.address, [frontend.address])

    def test_ob_config_names_the_checked_address(self, tmp_path: Path) -> None:
        address = _address()
        written = balance.write_instance_config(tmp_path / "source", address)
        assert balance.render_instance_config(address) == written.read_text()
        with pytest.raises(TorConfigError):
            balance.render_instance_config("not-an-address.onion")
