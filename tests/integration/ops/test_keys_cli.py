"""The submission key's ceremony through `backupctl keys`, with real gpg."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import SUBMISSION_KEY_FILE, fingerprint_groups

PASSPHRASE = "correct horse battery staple ceremony"


@pytest.fixture
def ws_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "workstation-gnupg"
    yield home
    kill_agent(home)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "instance"
    yield path
    kill_agent(path / "gnupg")


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(0o600)
    return path


def _generate(runner: CliRunner, home: Path, passphrase_file: Path) -> str:
    result = runner.invoke(
        main, ["keys", "generate", "--home", str(home), "--passphrase-file", str(passphrase_file)]
    )
    assert result.exit_code == 0, result.output
    [fingerprint] = [k["fingerprint"] for k in GpgKeyring(home, server=False).gpg.list_keys(True)]
    assert fingerprint_groups(fingerprint) in result.output
    return str(fingerprint)


class TestKeysCeremony:
    """generate on the workstation, export, load on the server, show."""

    def test_generate_export_load_show(
        self, ws_home: Path, instance: Path, passphrase_file: Path, tmp_path: Path
    ) -> None:
        runner = CliRunner()
        fingerprint = _generate(runner, ws_home, passphrase_file)

        exported = runner.invoke(main, ["keys", "export", "--home", str(ws_home), fingerprint])
        assert exported.exit_code == 0, exported.output
        assert exported.output.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        assert "PRIVATE" not in exported.output
        public = tmp_path / "pub.asc"
        public.write_text(exported.output)

        loaded = runner.invoke(main, ["--instance", str(instance), "keys", "load", str(public)])
        assert loaded.exit_code == 0, loaded.output
        assert fingerprint_groups(fingerprint) in loaded.output
        assert (instance / SUBMISSION_KEY_FILE).read_text().strip() == fingerprint
        server = GpgKeyring(instance / "gnupg")
        assert server.has_public_key(fingerprint)
        assert not server.has_secret_key(fingerprint)

        shown = runner.invoke(main, ["keys", "show"], env={"BACKUP_INSTANCE_DIR": str(instance)})
        assert shown.exit_code == 0, shown.output
        assert shown.output.strip() == fingerprint_groups(fingerprint)
        assert "DEVELOPMENT" not in shown.output

    def test_loading_again_needs_replace(
        self, ws_home: Path, instance: Path, passphrase_file: Path, tmp_path: Path
    ) -> None:
        runner = CliRunner()
        first = _generate(runner, ws_home, passphrase_file)
        public = tmp_path / "pub.asc"
        public.write_text(GpgKeyring(ws_home, server=False).export_public(first))
        args = ["--instance", str(instance), "keys", "load", str(public)]
        assert runner.invoke(main, args).exit_code == 0
        again = runner.invoke(main, args)
        assert again.exit_code == 1
        assert "--replace" in again.output
        assert runner.invoke(main, [*args, "--replace"]).exit_code == 0

    def test_passphrase_is_asked_twice(self, ws_home: Path) -> None:
        runner = CliRunner()
        mismatch = runner.invoke(
            main, ["keys", "generate", "--home", str(ws_home)], input=f"{PASSPHRASE}\nother\n"
        )
        assert mismatch.exit_code != 0
        assert not ws_home.exists() or not GpgKeyring(ws_home, server=False).gpg.list_keys()
        short = runner.invoke(
            main, ["keys", "generate", "--home", str(ws_home)], input="short\n" * 2
        )
        assert short.exit_code == 1
        assert "at least 12 characters" in short.output
        ok = runner.invoke(
            main, ["keys", "generate", "--home", str(ws_home)], input=f"{PASSPHRASE}\n" * 2
        )
        assert ok.exit_code == 0, ok.output
        assert PASSPHRASE not in ok.output

    def test_generate_refuses_the_server_keyring(
        self, instance: Path, passphrase_file: Path
    ) -> None:
        runner = CliRunner()
        assert runner.invoke(main, ["--instance", str(instance), "db", "upgrade"]).exit_code == 0
        result = runner.invoke(
            main,
            [
                "keys",
                "generate",
                "--home",
                str(instance / "gnupg"),
                "--passphrase-file",
                str(passphrase_file),
            ],
        )
        assert result.exit_code == 1
        assert "inside a server instance" in result.output

    def test_export_wants_a_full_fingerprint(self, ws_home: Path) -> None:
        result = CliRunner().invoke(main, ["keys", "export", "--home", str(ws_home), "DEADBEEF"])
        assert result.exit_code == 1
        assert "full fingerprint" in result.output


class TestSecretKeyRefused:
    """The server keyring must never receive a secret key, armored or binary."""

    @pytest.mark.parametrize("armor", [True, False])
    def test_secret_key_is_refused(
        self, armor: bool, ws_home: Path, instance: Path, passphrase_file: Path, tmp_path: Path
    ) -> None:
        runner = CliRunner()
        fingerprint = _generate(runner, ws_home, passphrase_file)
        secret = tmp_path / "secret.asc"
        if armor:
            secret.write_text(
                GpgKeyring(ws_home, server=False).export_secret(fingerprint, PASSPHRASE)
            )
        else:
            secret.write_bytes(
                subprocess.run(
                    [
                        "gpg",
                        "--homedir",
                        str(ws_home),
                        "--batch",
                        "--pinentry-mode",
                        "loopback",
                        "--passphrase",
                        PASSPHRASE,
                        "--export-secret-keys",
                        fingerprint,
                    ],
                    check=True,
                    capture_output=True,
                ).stdout
            )
        result = runner.invoke(main, ["--instance", str(instance), "keys", "load", str(secret)])
        assert result.exit_code == 1
        assert "refusing a secret key" in result.output or "not an ASCII-armored" in result.output
        server = GpgKeyring(instance / "gnupg")
        assert not server.has_secret_key(fingerprint)
        assert not server.has_public_key(fingerprint)
        assert not (instance / SUBMISSION_KEY_FILE).exists()

    def test_public_and_secret_in_one_file_is_refused(
        self, ws_home: Path, instance: Path, passphrase_file: Path, tmp_path: Path
    ) -> None:
        runner = CliRunner()
        fingerprint = _generate(runner, ws_home, passphrase_file)
        keyring = GpgKeyring(ws_home, server=False)
        bundle = tmp_path / "both.asc"
        bundle.write_text(
            keyring.export_public(fingerprint) + keyring.export_secret(fingerprint, PASSPHRASE)
        )
        result = runner.invoke(main, ["--instance", str(instance), "keys", "load", str(bundle)])
        assert result.exit_code == 1
        assert "refusing a secret key" in result.output
        assert not GpgKeyring(instance / "gnupg").has_public_key(fingerprint)


@pytest.mark.skipif(
    Path(f"/run/user/{os.getuid()}").is_dir(), reason="gpg puts its sockets in /run/user here"
)
def test_too_deep_a_home_is_explained(passphrase_file: Path, tmp_path: Path) -> None:
    """gpg alone would only say 'key not created': the cause is named instead."""
    deep = tmp_path / ("d" * 60) / "workstation-gnupg"
    result = CliRunner().invoke(
        main, ["keys", "generate", "--home", str(deep), "--passphrase-file", str(passphrase_file)]
    )
    assert result.exit_code == 1
    assert "too deep for gpg-agent's sockets" in result.output
