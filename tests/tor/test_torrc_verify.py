"""The production torrc, as `backupctl onion torrc` prints it, passes `tor --verify-config`
(Debian's tor, no defaults torrc); an unsafe variant is rejected by tor itself."""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

from backupctl.cli import main
from onion import balance
from onion.errors import TorConfigError
from onion.torrc import ServerTorrc, render_server_torrc, verify_config


class TestVerifyConfig:
    """tor itself judges the generated file."""

    def test_the_cli_output_passes_tor_verify_config(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(main, ["--instance", str(tmp_path / "i"), "onion", "torrc"])
        assert result.exit_code == 0, result.output
        assert "configuration is valid" in result.output
        torrc = result.output.split("\n", 1)[1]  # after the verdict line (stderr first)
        assert "HiddenServicePoWDefensesEnabled 1" in torrc
        assert "HiddenServiceEnableIntroDoSDefense 1" in torrc
        assert "HiddenServiceExportCircuitID haproxy" in torrc
        assert "Configuration was valid" in verify_config(torrc)

    def test_a_private_layout_passes_too(self, tmp_path: Path) -> None:
        data = tmp_path / "tor"
        settings = ServerTorrc(
            data_dir=PurePosixPath(data),
            services_dir=PurePosixPath(data / "services"),
            source_target="unix:/run/backup/source.sock",
            control_socket=None,
            user=None,
        )
        assert "Configuration was valid" in verify_config(render_server_torrc(settings))

    def test_with_the_ssh_service_it_passes_too(self, tmp_path: Path) -> None:
        args = ["--instance", str(tmp_path / "i"), "onion", "torrc", "--ssh-target", "127.0.0.1:22"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "HiddenServicePort 22 127.0.0.1:22" in result.output

    def test_tor_rejects_a_tampered_file(self) -> None:
        # Single-hop mode without its companion option: tor must refuse, and we must say so.
        tampered = render_server_torrc(ServerTorrc()).replace(
            "HiddenServiceSingleHopMode 0", "HiddenServiceSingleHopMode 1"
        )
        with pytest.raises(TorConfigError, match="tor rejected"):
            verify_config(tampered)


def _an_address() -> str:
    """A backend's address, as its tor would derive it from its key."""
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return HiddenServiceDescriptorV3.address_from_identity_key(key)


class TestBalancedTorrc:
    """The onionbalance side (`backupctl onion balance`): tor accepts a backend's torrc
    once its ob_config exists, and the frontend's; onionbalance itself reads our files."""

    def test_cli_lays_out_a_frontend_and_a_backend_tor_accepts(self, tmp_path: Path) -> None:
        runner = CliRunner()
        base = ["--instance", str(tmp_path / "i"), "onion", "balance"]
        frontend_dir = tmp_path / "onionbalance"
        made = runner.invoke(main, [*base, "init", "--dir", str(frontend_dir)])
        assert made.exit_code == 0, made.output
        master = balance.load_frontend(frontend_dir).address
        assert f"Source address: {master}" in made.output
        assert "PRIVATE KEY" not in made.output
        # A second init must not replace the key (the address would change).
        again = runner.invoke(main, [*base, "init", "--dir", str(frontend_dir)])
        assert again.exit_code != 0
        assert balance.load_frontend(frontend_dir).address == master

        data = tmp_path / "tor"
        service_dir = data / "services" / "source"
        placed = runner.invoke(
            main, [*base, "instance", "--master", master, "--service-dir", str(service_dir)]
        )
        assert placed.exit_code == 0, placed.output
        settings = ServerTorrc(
            data_dir=PurePosixPath(data),
            services_dir=PurePosixPath(data / "services"),
            control_socket=None,
            user=None,
            onionbalance_instance=True,
            journalist_service=False,
        )
        assert "Configuration was valid" in verify_config(render_server_torrc(settings))

        backend = _an_address()
        listed = runner.invoke(main, [*base, "backends", "--dir", str(frontend_dir), backend])
        assert listed.exit_code == 0, listed.output
        assert balance.load_frontend(frontend_dir).instances == (backend,)
        shown = runner.invoke(main, [*base, "address", "--dir", str(frontend_dir)])
        assert shown.output.strip() == master

        front = runner.invoke(main, [*base, "frontend-torrc"])
        assert front.exit_code == 0, front.output
        assert "configuration is valid" in front.output

    def test_without_its_ob_config_tor_refuses_a_backend(self, tmp_path: Path) -> None:
        settings = ServerTorrc(
            data_dir=PurePosixPath(tmp_path / "tor"),
            services_dir=PurePosixPath(tmp_path / "tor" / "services"),
            control_socket=None,
            user=None,
            onionbalance_instance=True,
        )
        with pytest.raises(TorConfigError, match="OnionBalance"):
            verify_config(render_server_torrc(settings))

    def test_onionbalance_reads_our_key_and_config(self, tmp_path: Path) -> None:
        frontend = balance.create_frontend(tmp_path / "ob")
        backend = _an_address()
        balance.write_frontend_config(frontend.directory, [backend])
        # Debian's onionbalance, in its own interpreter: its config check (which checks
        # each backend address), then its key loader (which derives the address). Its
        # instances would need a running tor: tests/tor/test_onionbalance.py has one.
        code = (
            "import sys\n"
            "from onionbalance.hs_v3 import onionbalance as ob, service\n"
            "o = ob.Onionbalance()\n"
            "o.config_path = sys.argv[1]\n"
            "data = o.load_config_file()['services'][0]\n"
            "s = service.OnionbalanceService.__new__(service.OnionbalanceService)\n"
            "s.is_priv_key_in_tor_format = False\n"
            "_key, address = s._load_service_keys(data, sys.argv[1])\n"
            "assert not s.is_priv_key_in_tor_format\n"
            "print(address, *[i['address'] for i in data['instances']])\n"
        )
        result = subprocess.run(
            ["/usr/bin/python3", "-c", code, str(frontend.config_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        words = result.stdout.split()
        assert words[0].removesuffix(".onion") == frontend.address.removesuffix(".onion")
        assert [w.removesuffix(".onion") for w in words[1:]] == [backend.removesuffix(".onion")]
