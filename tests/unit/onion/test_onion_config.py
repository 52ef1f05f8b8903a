"""The Tor settings (onion.config) and the apps' onion Host names (vault.config):
parsed from the environment, checked early."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from onion.config import OnionConfig, load_onion_config
from vault.config import Config, load_config
from vault.errors import ConfigError

ONION = "c" * 56 + ".onion"
TOR_SETTINGS = (
    "tor_services_dir",
    "tor_control_socket",
    "dev_tor",
    "dev_torrc",
    "tor_binary",
    "onion_dir",
)


class TestOnionConfig:
    """A typo in an onion address would lock every visitor out: refused at start."""

    def test_defaults(self, tmp_path: Path) -> None:
        config = load_onion_config({"BACKUP_INSTANCE_DIR": str(tmp_path / "i")})
        assert config.onion_dir == tmp_path / "i" / "onion"
        assert config.dev_tor is True and config.dev_torrc is None
        assert config.tor_control_socket == Path("/run/tor/control")
        assert config.tor_binary is None
        hosts = load_config({"BACKUP_INSTANCE_DIR": str(tmp_path / "i")})
        assert hosts.source_onion_host is None and hosts.journalist_onion_host is None

    def test_production_services_live_with_tor(self, tmp_path: Path) -> None:
        config = load_onion_config({"BACKUP_INSTANCE_DIR": str(tmp_path), "BACKUP_PRODUCTION": "1"})
        assert config.onion_dir == Path("/var/lib/tor/backup")

    def test_values_from_the_environment(self, tmp_path: Path) -> None:
        env = {
            "BACKUP_INSTANCE_DIR": str(tmp_path / "i"),
            "BACKUP_SOURCE_ONION_HOST": ONION.upper(),
            "BACKUP_JOURNALIST_ONION_HOST": ONION,
            "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "hs"),
            "BACKUP_TOR_CONTROL_SOCKET": str(tmp_path / "control"),
            "BACKUP_DEV_TOR": "0",
            "BACKUP_DEV_TORRC": str(tmp_path / "dev.torrc"),
            "BACKUP_TOR_BINARY": "/opt/tor/bin/tor",
        }
        config = load_onion_config(env)
        assert config.onion_dir == tmp_path / "hs"
        assert config.tor_control_socket == tmp_path / "control"
        assert config.dev_tor is False
        assert config.dev_torrc == tmp_path / "dev.torrc"
        assert config.tor_binary == "/opt/tor/bin/tor"
        hosts = load_config(env)
        assert hosts.source_onion_host == ONION and hosts.journalist_onion_host == ONION

    def test_a_malformed_switch_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="BACKUP_DEV_TOR must be a boolean"):
            load_onion_config({"BACKUP_INSTANCE_DIR": str(tmp_path), "BACKUP_DEV_TOR": "maybe"})

    def test_the_tor_settings_left_vaults_configuration(self) -> None:
        """The apps keep only the Host names they answer to; tor is backupctl's business."""
        vault_names = {spec.name for spec in dataclasses.fields(Config)} | set(vars(Config))
        onion_names = {spec.name for spec in dataclasses.fields(OnionConfig)} | set(
            vars(OnionConfig)
        )
        assert not vault_names & set(TOR_SETTINGS)
        assert set(TOR_SETTINGS) <= onion_names

    @pytest.mark.parametrize(
        "value",
        ["example.org", "c" * 16 + ".onion", "c" * 56, ONION + ".evil.org", "1" * 56 + ".onion"],
    )
    def test_anything_but_a_v3_address_is_refused(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(ConfigError, match="v3 onion address"):
            load_config({"BACKUP_INSTANCE_DIR": str(tmp_path), "BACKUP_SOURCE_ONION_HOST": value})
