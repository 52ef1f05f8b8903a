"""Each package's own errors reach the operator as one clear line through the real
`backupctl`: the domain's (VaultError), the keys' (KeysError), Tor's (OnionError) and
the workstation's (WorkstationError), none of them a subclass of another's."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from backupctl.cli import main
from keys.gpg import GpgKeyring, kill_agent
from keys.receipts import RECEIPT_KEY_FILE, SigningKey


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    # A clear line, not a traceback: click printed it and exited with status 1.
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_keys_error_is_one_line_naming_keys(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    key_file = instance / RECEIPT_KEY_FILE
    SigningKey.generate(key_file)
    os.chmod(key_file, 0o644)  # readable by others: keys refuses to load it
    code, output = _invoke("--instance", str(instance), "custody", "verify-log")
    assert code == 1
    assert output.startswith("Error: key error: ")
    assert "signing key readable by others (chmod 600)" in output


def test_an_onion_error_is_one_line_naming_tor(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    service = tmp_path / "service"
    service.mkdir(mode=0o700)
    code, output = _invoke(
        "--instance", str(instance), "onion", "reviewer", "revoke", "Not A Name",
        "--service-dir", str(service),
    )  # fmt: skip
    assert code == 1
    assert output.startswith("Error: Tor error: invalid reviewer key name 'Not A Name'")


def test_a_workstation_error_is_one_line_naming_the_workstation(tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    GpgKeyring(home, server=False)  # an empty, real GnuPG home
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a passphrase that opens nothing\n")
    passphrase.chmod(0o600)
    stranger = tmp_path / "holiday-photo.jpg.gpg"
    stranger.write_bytes(b"not a download of ours")
    try:
        code, output = _invoke(
            "workstation", "decrypt", "--home", str(home),
            "--passphrase-file", str(passphrase), "--out", str(tmp_path / "out"),
            str(stranger),
        )  # fmt: skip
    finally:
        kill_agent(home)
    assert code == 1
    assert output.startswith("Error: workstation error: ")
    assert "holiday-photo.jpg.gpg" in output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_domain_error_is_still_its_message_alone(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    code, output = _invoke("--instance", str(instance), "keys", "show")
    assert code == 1
    assert output.startswith("Error: no submission key loaded")
