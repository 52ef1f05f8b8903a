"""The onion settings of the configuration: parsed from the environment, checked early."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.config import load_config
from vault.errors import ConfigError

ONION = "c" * 56 + ".onion"


class TestOnionConfig:
    """A typo in an onion address would lock every visitor out: refused at start."""

    def test_defaults(self, tmp_path: Path) -> None:
        config = load_config({"BACKUP_INSTANCE_DIR": str(tmp_path / "i")})
        assert config.source_onion_host is None and config.journalist_onion_host is None
        assert config.onion_dir == tmp_path / "i" / "onion"
        assert config.dev_tor is True and config.dev_torrc is None
        assert config.tor_control_socket == Path("/run/tor/control")

    def test_production_services_live_with_tor(self, tmp_path: Path) -> None:
        config = load_config({"BACKUP_INSTANCE_DIR": str(tmp_path), "BACKUP_PRODUCTION": "1"})
        assert config.onion_dir == Path("/var/lib/tor/backup")

    def test_values_from_the_environment(self, tmp_path: Path) -> None:
        config = load_config(
            {
                "BACKUP_INSTANCE_DIR": str(tmp_path / "i"),
                "BACKUP_SOURCE_ONION_HOST": ONION.upper(),
                "BACKUP_JOURNALIST_ONION_HOST": ONION,
                "BACKUP_TOR_SERVICES_DIR": str(tmp_path / "hs"),
                "BACKUP_DEV_TOR": "0",
            }
        )
        assert config.source_onion_host == ONION
        assert config.onion_dir == tmp_path / "hs"
        assert config.dev_tor is False

    @pytest.mark.parametrize(
        "value",
        ["example.org", "c" * 16 + ".onion", "c" * 56, ONION + ".evil.org", "1" * 56 + ".onion"],
    )
    def test_anything_but_a_v3_address_is_refused(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(ConfigError, match="v3 onion address"):
            load_config({"BACKUP_INSTANCE_DIR": str(tmp_path), "BACKUP_SOURCE_ONION_HOST": value})
