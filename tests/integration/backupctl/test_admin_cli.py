"""`backupctl admin create`: the first admin, from the server's console."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from backupctl.cli import main
from keys.gpg import GpgKeyring
from tests.support.leaks import assert_no_leak
from vault.column_key import COLUMN_KEY_FILE, TOTP_SECRET, ColumnKey
from vault.config import load_config
from vault.db import make_engine, make_session_factory
from vault.models import AccountKey, AuditEvent, Reviewer, Role
from vault.services import notes


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    result = CliRunner().invoke(main, ["--instance", str(path), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    return path


def _reviewer(instance: Path, username: str) -> Reviewer | None:
    engine = make_engine(load_config({"BACKUP_INSTANCE_DIR": str(instance)}).database_url)
    try:
        with make_session_factory(engine)() as db:
            return db.scalar(select(Reviewer).where(Reviewer.username == username))
    finally:
        engine.dispose()


def test_create_admin_prints_credentials_once(instance: Path) -> None:
    result = CliRunner().invoke(
        main, ["--instance", str(instance), "admin", "create", "Amani", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    reviewer = _reviewer(instance, "amani")
    assert reviewer is not None
    assert reviewer.role is Role.ADMIN

    lines = result.output.splitlines()
    passphrase = lines[lines.index("Passphrase (shown once):") + 1].strip()
    assert len(passphrase.split()) == 7
    assert PasswordHasher().verify(reviewer.passphrase_hash, passphrase)
    assert passphrase not in reviewer.passphrase_hash

    key = ColumnKey.load(instance / COLUMN_KEY_FILE)
    secret = key.open(reviewer.otp_secret_sealed, TOTP_SECRET, reviewer.uuid)
    grouped = " ".join(re.findall(".{1,4}", secret))
    assert grouped in result.output
    [uri] = re.findall(r"otpauth://\S+", result.output)
    totp = pyotp.parse_uri(uri)
    assert totp.secret == secret
    # The database holds it sealed only: in no row, not in its file nor the WAL, nowhere
    # in the instance directory.
    assert_no_leak(secret, files=[instance])
    assert totp.issuer == "BackUp"
    assert "█" in result.output or "▀" in result.output  # the terminal QR code


def test_default_role_is_analyst(instance: Path) -> None:
    result = CliRunner().invoke(main, ["--instance", str(instance), "admin", "create", "neza"])
    assert result.exit_code == 0, result.output
    reviewer = _reviewer(instance, "neza")
    assert reviewer is not None
    assert reviewer.role is Role.ANALYST


def test_duplicate_and_invalid_usernames(instance: Path) -> None:
    runner = CliRunner()
    args = ["--instance", str(instance), "admin", "create"]
    assert runner.invoke(main, [*args, "amani"]).exit_code == 0
    again = runner.invoke(main, [*args, "AMANI"])
    assert again.exit_code == 1
    assert "already taken" in again.output
    assert "Passphrase" not in again.output
    bad = runner.invoke(main, [*args, "../x"])
    assert bad.exit_code == 1
    assert "invalid username" in bad.output
    role = runner.invoke(main, [*args, "kalisa", "--role", "root"])
    assert role.exit_code == 2


def test_without_schema_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "fresh").mkdir()  # an instance directory, never migrated
    result = CliRunner().invoke(
        main, ["--instance", str(tmp_path / "fresh"), "admin", "create", "amani"]
    )
    assert result.exit_code == 1
    assert "backupctl db upgrade" in result.output


@pytest.mark.parametrize(
    "command",
    [["admin", "create", "amani", "--role", "admin"], ["keys", "show"], ["sweep"], ["worker"]],
)
def test_without_an_instance_directory_refuses_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """The README's command typed from another directory, the variable not exported:
    a clear refusal naming what to set, and no stray ./instance with fresh secrets."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BACKUP_INSTANCE_DIR", raising=False)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    assert f"no instance directory at {tmp_path / 'instance'}" in result.output
    assert "--instance" in result.output and "BACKUP_INSTANCE_DIR" in result.output
    assert "has `backupctl db upgrade` been run?" not in result.output
    assert list(tmp_path.iterdir()) == []

    # The same with the variable pointing to a directory that is not there.
    missing = tmp_path / "typo"
    monkeypatch.setenv("BACKUP_INSTANCE_DIR", str(missing))
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    assert f"no instance directory at {missing}" in result.output
    assert list(tmp_path.iterdir()) == []


def test_create_makes_the_account_key(instance: Path) -> None:
    """The key exists from creation on, locked with the passphrase's derivation only."""
    result = CliRunner().invoke(
        main, ["--instance", str(instance), "admin", "create", "kalisa", "--role", "partner"]
    )
    assert result.exit_code == 0, result.output
    assert "could not be made" not in result.output
    lines = result.output.splitlines()
    passphrase = lines[lines.index("Passphrase (shown once):") + 1].strip()
    config = load_config({"BACKUP_INSTANCE_DIR": str(instance)})
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db:
            reviewer = db.scalars(select(Reviewer).where(Reviewer.username == "kalisa")).one()
            key = db.get(AccountKey, reviewer.id)
            assert key is not None
            fingerprint, salt = key.fingerprint, key.salt
    finally:
        engine.dispose()
    keyring = GpgKeyring(config.gnupg_home("journalist"), config.gpg_binary)
    sealed = keyring.seal_bytes(b"probe", [fingerprint])
    assert keyring.open_bytes(sealed, notes.key_passphrase(salt, passphrase)) == b"probe"
    assert_no_leak(
        (passphrase, notes.key_passphrase(salt, passphrase)), files=[instance], engine=None
    )


def test_reset_totp_after_the_column_key_is_lost(instance: Path) -> None:
    """The console's way back in: the column key is gone, so no TOTP secret opens; the
    admin's is reset from the console, sealed under the new key, and the reset audited."""
    args = ["--instance", str(instance), "admin"]
    created = CliRunner().invoke(main, [*args, "create", "amani", "--role", "admin"])
    assert created.exit_code == 0, created.output
    before = _reviewer(instance, "amani")
    assert before is not None
    (instance / COLUMN_KEY_FILE).unlink()

    missing = CliRunner().invoke(main, [*args, "reset-totp", "nobody"])
    assert missing.exit_code == 1 and "no reviewer named 'nobody'" in missing.output

    reset = CliRunner().invoke(main, [*args, "reset-totp", " Amani "])
    assert reset.exit_code == 0, reset.output
    [uri] = re.findall(r"otpauth://\S+", reset.output)
    printed = pyotp.parse_uri(uri)
    after = _reviewer(instance, "amani")
    assert after is not None and after.otp_secret_sealed != before.otp_secret_sealed
    key = ColumnKey.load(instance / COLUMN_KEY_FILE)  # made again at first use
    secret = key.open(after.otp_secret_sealed, TOTP_SECRET, after.uuid)
    assert printed.secret == secret and " ".join(re.findall(".{1,4}", secret)) in reset.output
    assert after.last_totp_step == 0
    engine = make_engine(load_config({"BACKUP_INSTANCE_DIR": str(instance)}).database_url)
    try:
        with make_session_factory(engine)() as db:
            event = db.scalars(select(AuditEvent).where(AuditEvent.action == "totp_reset")).one()
            assert event.actor_id is None and event.object_uuid == after.uuid
    finally:
        engine.dispose()
