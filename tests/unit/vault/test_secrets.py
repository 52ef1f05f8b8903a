"""Secrets per process (docs/threat-model.md, "Secrets per process"): each interface's in
a file of its own, loaded only by the process that serves it; made on first run in
development, never silently in production; a former single secrets.json is split."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from vault.config import (
    INTERFACES,
    JournalistSecrets,
    SourceSecrets,
    init_secrets,
    load_config,
)
from vault.errors import ConfigError


def _env(instance: Path, **more: str) -> dict[str, str]:
    return {"BACKUP_INSTANCE_DIR": str(instance), **more}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _legacy(instance: Path) -> dict[str, str]:
    values = {
        name: bytes([n]).hex() * 32
        for n, name in enumerate(
            (
                "source_secret_key",
                "journalist_secret_key",
                "lookup_pepper",
                "reply_key_pepper",
                "session_pepper",
            ),
            start=1,
        )
    }
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "secrets.json").write_text(json.dumps(values))
    return values


class TestEachProcessHoldsItsOwn:
    def test_the_source_interface_holds_only_its_secrets(self, tmp_path: Path) -> None:
        config = load_config(_env(tmp_path / "i"), interface="source")
        assert isinstance(config.secrets.source, SourceSecrets)
        assert config.secrets.journalist is None
        with pytest.raises(ConfigError, match="no secrets of the reviewer interface"):
            config.secrets.for_journalist()

    def test_the_reviewer_interface_holds_only_its_secrets(self, tmp_path: Path) -> None:
        config = load_config(_env(tmp_path / "i"), interface="journalist")
        assert isinstance(config.secrets.journalist, JournalistSecrets)
        assert config.secrets.source is None
        with pytest.raises(ConfigError, match="no secrets of the source interface"):
            config.secrets.for_source()

    def test_the_worker_and_the_cli_hold_none(self, tmp_path: Path) -> None:
        config = load_config(_env(tmp_path / "i"))
        assert config.secrets.source is None and config.secrets.journalist is None

    def test_no_secret_is_shared_between_the_interfaces(self, tmp_path: Path) -> None:
        source = load_config(_env(tmp_path / "i"), interface="source").secrets.for_source()
        journalist = load_config(_env(tmp_path / "i"), interface="journalist")
        held = set(vars(source).values())
        assert not held & set(vars(journalist.secrets.for_journalist()).values())
        assert all(len(value) == 32 for value in held)

    def test_repr_never_shows_a_secret(self, tmp_path: Path) -> None:
        config = load_config(_env(tmp_path / "i"), interface="source")
        secret = config.secrets.for_source().lookup_pepper
        for text in (repr(config), repr(config.secrets), repr(config.secrets.source)):
            assert secret.hex() not in text and repr(secret) not in text
        assert "holds=['source']" in repr(config.secrets)


class TestDevelopment:
    def test_first_run_makes_one_owner_only_file_per_interface(self, tmp_path: Path) -> None:
        load_config(_env(tmp_path / "i"), interface="source")
        directory = tmp_path / "i" / "secrets"
        assert _mode(directory) == 0o700
        assert sorted(p.name for p in directory.iterdir()) == ["journalist.json", "source.json"]
        assert all(_mode(path) == 0o600 for path in directory.iterdir())
        assert json.loads((directory / "journalist.json").read_text()).keys() == {
            "cookie_key",
            "session_pepper",
            "api_token_key",
        }

    def test_later_runs_keep_the_values(self, tmp_path: Path) -> None:
        first = load_config(_env(tmp_path / "i"), interface="source").secrets
        again = load_config(_env(tmp_path / "i"), interface="source").secrets
        assert first == again

    def test_workers_starting_together_agree(self, tmp_path: Path) -> None:
        """gunicorn's workers each load the configuration: the first file wins for all."""
        results: list[SourceSecrets] = []

        def load() -> None:
            results.append(
                load_config(_env(tmp_path / "i"), interface="source").secrets.for_source()
            )

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 8 and len(set(results)) == 1
        assert not [p for p in (tmp_path / "i" / "secrets").iterdir() if p.name.startswith(".")]

    def test_a_former_secrets_file_is_split_and_removed(self, tmp_path: Path) -> None:
        instance = tmp_path / "i"
        old = {name: bytes.fromhex(value) for name, value in _legacy(instance).items()}
        source = load_config(_env(instance), interface="source").secrets.for_source()
        journalist = load_config(_env(instance), interface="journalist").secrets.for_journalist()
        # Sources keep their codenames: both derivation peppers are unchanged.
        assert source == SourceSecrets(
            cookie_key=old["source_secret_key"],
            session_pepper=old["session_pepper"],
            lookup_pepper=old["lookup_pepper"],
            reply_key_pepper=old["reply_key_pepper"],
        )
        # Reviewers keep their CSRF and API tokens; their sessions get a pepper of their own.
        assert journalist.cookie_key == old["journalist_secret_key"]
        assert journalist.api_token_key == old["journalist_secret_key"]
        assert journalist.session_pepper not in old.values()
        assert not (instance / "secrets.json").exists()

    def test_secrets_dir_from_the_environment(self, tmp_path: Path) -> None:
        env = _env(tmp_path / "i", BACKUP_SECRETS_DIR=str(tmp_path / "elsewhere"))
        load_config(env, interface="journalist")
        assert (tmp_path / "elsewhere" / "journalist.json").exists()
        assert not (tmp_path / "i" / "secrets").exists()

    @pytest.mark.parametrize(
        "content",
        [
            "not json",
            "[]",
            '{"cookie_key": "00"}',
            json.dumps(
                dict.fromkeys(
                    ("cookie_key", "session_pepper", "lookup_pepper", "reply_key_pepper"), "ab" * 8
                )
            ),
        ],
    )
    def test_a_damaged_file_is_an_error_not_new_secrets(self, tmp_path: Path, content: str) -> None:
        directory = tmp_path / "i" / "secrets"
        directory.mkdir(parents=True)
        (directory / "source.json").write_text(content)
        with pytest.raises(ConfigError, match="secrets file"):
            load_config(_env(tmp_path / "i"), interface="source")
        assert (directory / "source.json").read_text() == content


class TestProduction:
    def test_a_missing_file_is_an_error_naming_the_command(self, tmp_path: Path) -> None:
        env = _env(tmp_path / "i", BACKUP_PRODUCTION="1")
        for interface in INTERFACES:
            with pytest.raises(ConfigError, match="backupctl secrets init") as raised:
                load_config(env, interface=interface)
            assert f"{interface}.json" in str(raised.value)
        assert not (tmp_path / "i" / "secrets").exists()

    def test_a_former_secrets_file_is_not_migrated_silently(self, tmp_path: Path) -> None:
        _legacy(tmp_path / "i")
        with pytest.raises(ConfigError, match="backupctl secrets init"):
            load_config(_env(tmp_path / "i", BACKUP_PRODUCTION="1"), interface="source")
        assert (tmp_path / "i" / "secrets.json").exists()

    def test_the_worker_needs_no_file(self, tmp_path: Path) -> None:
        config = load_config(_env(tmp_path / "i", BACKUP_PRODUCTION="1"))
        assert config.secrets.source is None and config.secrets.journalist is None

    def test_a_unit_given_its_own_file_only(self, tmp_path: Path) -> None:
        """systemd hands each unit its file as a credential: a directory with one file."""
        made = tmp_path / "etc-secrets"
        init_secrets(made, tmp_path / "i")
        credentials = tmp_path / "credentials"
        credentials.mkdir()
        (credentials / "source.json").write_bytes((made / "source.json").read_bytes())
        env = _env(tmp_path / "i", BACKUP_PRODUCTION="1", BACKUP_SECRETS_DIR=str(credentials))
        assert load_config(env, interface="source").secrets.source is not None
        with pytest.raises(ConfigError, match=r"journalist\.json"):
            load_config(env, interface="journalist")


class TestInit:
    def test_creates_only_what_is_missing(self, tmp_path: Path) -> None:
        directory = tmp_path / "secrets"
        assert init_secrets(directory, tmp_path) == [
            directory / "source.json",
            directory / "journalist.json",
        ]
        before = (directory / "source.json").read_bytes()
        (directory / "journalist.json").unlink()
        assert init_secrets(directory, tmp_path) == [directory / "journalist.json"]
        assert (directory / "source.json").read_bytes() == before
        assert init_secrets(directory, tmp_path) == []

    def test_an_incomplete_former_file_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "secrets.json").write_text(json.dumps({"session_pepper": "ab" * 32}))
        with pytest.raises(ConfigError, match="incomplete"):
            init_secrets(tmp_path / "secrets", tmp_path)
        assert (tmp_path / "secrets.json").exists()


def test_a_systemd_unit_reads_its_credentials_directory(tmp_path: Path) -> None:
    """Production: systemd sets CREDENTIALS_DIRECTORY for a unit given LoadCredential=."""
    made = tmp_path / "etc-secrets"
    init_secrets(made, tmp_path / "i")
    credentials = tmp_path / "run-credentials"
    credentials.mkdir()
    (credentials / "journalist.json").write_bytes((made / "journalist.json").read_bytes())
    env = _env(tmp_path / "i", BACKUP_PRODUCTION="1", CREDENTIALS_DIRECTORY=str(credentials))
    loaded = load_config(env, interface="journalist").secrets.for_journalist()
    assert loaded.api_token_key == bytes.fromhex(
        json.loads((made / "journalist.json").read_text())["api_token_key"]
    )
    with pytest.raises(ConfigError, match="backupctl secrets init"):
        load_config(env, interface="source")


def test_a_former_file_that_disagrees_is_kept_and_refused(tmp_path: Path) -> None:
    """An old backup (one secrets.json) restored over a server whose secrets are already
    split: its peppers may be the only ones that open the restored sources."""
    instance = tmp_path / "i"
    init_secrets(instance / "secrets", instance)
    _legacy(instance)
    with pytest.raises(ConfigError, match="hold different secrets"):
        init_secrets(instance / "secrets", instance)
    assert (instance / "secrets.json").exists()


def test_a_former_file_already_split_is_removed(tmp_path: Path) -> None:
    instance = tmp_path / "i"
    _legacy(instance)
    init_secrets(instance / "secrets", instance)
    _legacy(instance)  # the same file again (e.g. a second restore of the same backup)
    assert init_secrets(instance / "secrets", instance) == []
    assert not (instance / "secrets.json").exists()
