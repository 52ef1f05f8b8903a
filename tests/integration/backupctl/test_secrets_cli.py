"""`backupctl secrets init`: the step production runs before the services start (ansible/
does), and the error a production app gives without it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from vault.config import load_config
from vault.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_each_interfaces_file_once(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    runner = CliRunner()
    first = runner.invoke(main, ["--instance", str(instance), "secrets", "init"])
    assert first.exit_code == 0, first.output
    directory = instance / "secrets"
    assert f"Created {directory / 'source.json'} (new values)." in first.output
    assert f"Created {directory / 'journalist.json'} (new values)." in first.output
    assert _mode(directory) == 0o700
    assert {_mode(path) for path in directory.iterdir()} == {0o600}
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    again = runner.invoke(main, ["--instance", str(instance), "secrets", "init"])
    assert again.exit_code == 0 and "already" in again.output
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    # No instance directory laid down: in production this runs as root, first.
    assert sorted(path.name for path in instance.iterdir()) == ["secrets"]


def test_production_start_needs_it_then_works(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    legacy = {
        name: f"{n:02x}" * 32
        for n, name in enumerate(
            (
                "source_secret_key",
                "journalist_secret_key",
                "lookup_pepper",
                "reply_key_pepper",
                "session_pepper",
            )
        )
    }
    (instance / "secrets.json").write_text(json.dumps(legacy))
    etc = tmp_path / "etc-secrets"
    env = {
        "BACKUP_INSTANCE_DIR": str(instance),
        "BACKUP_PRODUCTION": "1",
        "BACKUP_SECRETS_DIR": str(etc),
    }
    with pytest.raises(ConfigError, match="backupctl secrets init"):
        load_config(env, interface="source")
    result = CliRunner().invoke(main, ["secrets", "init"], env=env)
    assert result.exit_code == 0, result.output
    assert "from" in result.output and "secrets.json" in result.output
    assert not (instance / "secrets.json").exists()
    source = load_config(env, interface="source").secrets.for_source()
    assert source.lookup_pepper == bytes.fromhex(legacy["lookup_pepper"])
    assert source.reply_key_pepper == bytes.fromhex(legacy["reply_key_pepper"])


def test_instance_keys_are_made_once_and_nothing_else(tmp_path: Path) -> None:
    """What a deployment runs as root before handing the keys to their users."""
    from keys.receipts import SigningKey
    from vault.column_key import ColumnKey

    instance = tmp_path / "instance"
    runner = CliRunner()
    first = runner.invoke(main, ["--instance", str(instance), "secrets", "instance-keys"])
    assert first.exit_code == 0, first.output
    column, receipt = instance / "column.key", instance / "receipt_key.pem"
    directory = instance / "directory.key"
    assert f"Created {column}." in first.output and f"Created {receipt}." in first.output
    assert f"Created {directory}." in first.output
    assert _mode(column) == 0o600 and _mode(receipt) == 0o600 and _mode(directory) == 0o600
    assert sorted(path.name for path in instance.iterdir()) == [
        "column.key",
        "directory.key",
        "receipt_key.pem",
    ]
    # The directory key may be shared with one group (the federation endpoint's), read
    # only; the column key never.
    directory.chmod(0o640)
    assert len(ColumnKey.load(directory, group_readable=True).seal("v", "entry", "u")) > 0
    for mode in (0o660, 0o644):
        directory.chmod(mode)
        with pytest.raises(ConfigError, match="chmod 640"):
            ColumnKey.load(directory, group_readable=True)
    column.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        ColumnKey.load(column)
    column.chmod(0o600)
    fingerprint = SigningKey.load(receipt).fingerprint
    sealed = ColumnKey.load(column).seal("v", "totp-secret", "u")
    again = runner.invoke(main, ["--instance", str(instance), "secrets", "instance-keys"])
    assert again.exit_code == 0 and f"Kept {column}." in again.output
    assert SigningKey.load(receipt).fingerprint == fingerprint
    assert ColumnKey.load(column).open(sealed, "totp-secret", "u") == "v"
