"""The submission key's ceremony through `backupctl keys`, with real gpg."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backupctl.cli import main
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import SUBMISSION_KEY_FILE, fingerprint_groups
from vault.config import KEYRING_SIDES

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
    for side in KEYRING_SIDES:
        kill_agent(path / "gnupg" / side)


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
        server = GpgKeyring(instance / "gnupg" / "source")
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
                str(instance / "gnupg" / "journalist"),
                "--passphrase-file",
                str(passphrase_file),
            ],
        )
        assert result.exit_code == 1
        assert "inside a server instance" in result.output

    def test_export_needs_an_existing_home(self, ws_home: Path) -> None:
        result = CliRunner().invoke(main, ["keys", "export", "--home", str(ws_home), "DEADBEEF"])
        assert result.exit_code == 1
        assert "no such GnuPG home" in result.output


class TestExportByPrefix:
    """`keys export` takes a unique prefix of 16+ hex characters of the fingerprint, as
    the grouped display shows it; anything shorter, unknown or not hex is refused."""

    @pytest.fixture
    def two_keys(self, ws_home: Path, passphrase_file: Path) -> tuple[str, str]:
        """The submission key and a second key in the same home (so unique means
        something)."""
        runner = CliRunner()
        first = _generate(runner, ws_home, passphrase_file)
        keyring = GpgKeyring(ws_home, server=False)
        other = keyring.gpg.gen_key(
            keyring.gpg.gen_key_input(
                key_type="EDDSA",
                key_curve="ed25519",
                subkey_type="ECDH",
                subkey_curve="cv25519",
                name_real="Other key",
                name_email="other@example.org",
                passphrase=PASSPHRASE,
            )
        )
        assert other.fingerprint and other.fingerprint != first
        return first, str(other.fingerprint)

    def _export(self, home: Path, typed: str) -> Result:
        return CliRunner().invoke(main, ["keys", "export", "--home", str(home), typed])

    def test_a_16_character_prefix_exports_that_key(
        self, ws_home: Path, two_keys: tuple[str, str]
    ) -> None:
        first, other = two_keys
        keyring = GpgKeyring(ws_home, server=False)
        whole = self._export(ws_home, first)
        assert whole.exit_code == 0, whole.output
        assert whole.stdout == keyring.export_public(first)
        assert whole.stderr == ""  # the whole fingerprint needs no confirmation
        for typed in (first[:16], first[:16].lower(), fingerprint_groups(first)[:19]):
            short = self._export(ws_home, typed)
            assert short.exit_code == 0, short.output
            assert short.stdout == whole.stdout, typed
            assert short.stderr.strip() == f"Key: {fingerprint_groups(first)}"
            assert "PRIVATE" not in short.stdout
        # The exported key is the one named, not the other one in the home.
        scanned = keyring.gpg.scan_keys_mem(self._export(ws_home, other[:20]).stdout)
        assert [k["fingerprint"] for k in scanned] == [other]

    def test_too_short_unknown_or_not_hex_is_refused(
        self, ws_home: Path, two_keys: tuple[str, str]
    ) -> None:
        first, other = two_keys
        short = self._export(ws_home, first[:15])
        assert short.exit_code == 1
        assert "too short to choose a key: type at least 16 characters" in short.output
        assert "BEGIN PGP" not in short.output
        # A prefix no key here has: both keys' first characters changed.
        unknown_prefix = "".join("0" if c != "0" else "1" for c in first[:16])
        assert not other.startswith(unknown_prefix)
        unknown = self._export(ws_home, unknown_prefix)
        assert unknown.exit_code == 1
        assert "no key here has a fingerprint starting with this" in unknown.output
        assert "BEGIN PGP" not in unknown.output
        not_hex = self._export(ws_home, "XYZ" + first[3:])
        assert not_hex.exit_code == 1
        assert "not a fingerprint" in not_hex.output


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
        server = GpgKeyring(instance / "gnupg" / "source")
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
        assert not GpgKeyring(instance / "gnupg" / "source").has_public_key(fingerprint)


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
