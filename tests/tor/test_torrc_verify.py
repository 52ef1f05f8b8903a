"""The production torrc, as `backupctl onion torrc` prints it, passes `tor --verify-config`
(Debian's tor, no defaults torrc); an unsafe variant is rejected by tor itself."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from backupctl.cli import main
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
