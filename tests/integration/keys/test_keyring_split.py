"""An instance upgraded from one GnuPG home for all processes gets one home per process
(`backupctl db upgrade`, composition.homes.split_keyring): each keeps every public key
and only the secret halves it owns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy.orm import Session

from backupctl.cli import main
from composition.runtime import build_runtime
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import GeneratedKey, load_submission_key
from tests.support.journalist import FAST_HASHER
from vault import codenames
from vault.column_key import COLUMN_KEY_FILE, ColumnKeyFile, bind_column_key
from vault.config import KEYRING_SIDES, Config
from vault.db import make_engine, make_session_factory
from vault.errors import ConfigError
from vault.migrate import upgrade
from vault.models import AccountKey, Role, Source
from vault.services import notes, reviewers, sources


@pytest.fixture
def db(config: Config) -> Iterator[Session]:
    upgrade(config.database_url)
    engine = make_engine(config.database_url)
    factory = make_session_factory(engine)
    bind_column_key(factory, ColumnKeyFile(config.instance_dir / COLUMN_KEY_FILE))
    with factory() as session:
        yield session
    engine.dispose()


@pytest.fixture
def legacy(
    config: Config, db: Session, submission_key: tuple[GeneratedKey, Path]
) -> Iterator[dict[str, str]]:
    """An instance whose processes all used <instance>/gnupg itself: a source's reply key,
    an account key and the submission public key there."""
    # A home as before key files (keys.keyfiles): every key in gpg's own keyring.
    home = GpgKeyring(config.gnupg_root, server=False)
    submission = load_submission_key(config.instance_dir, home, submission_key[0].public_armored)
    # A reply key as it was made then: in the home itself (not in the database).
    credentials = sources.begin_source(db, config, codenames.generate_codename())
    assert credentials.lookup_id is not None
    source = Source(
        uuid=credentials.source_uuid,
        lookup_id=credentials.lookup_id,
        designation="legacy source",
        reply_key_fingerprint=home.generate_reply_key(
            sources.REPLY_KEY_NAME, credentials.reply_passphrase
        ),
    )
    db.add(source)
    reviewer, passphrase = reviewers.create_reviewer(
        db, "analyst1", Role.ANALYST, hasher=FAST_HASHER
    )
    notes.create_account_key(db, home, reviewer, passphrase, actor=None)
    account = db.get_one(AccountKey, reviewer.id)
    account.public_key = None  # made before account keys kept their public half
    db.commit()
    kill_agent(config.gnupg_root)
    yield {
        "reply": source.reply_key_fingerprint,
        "account": account.fingerprint,
        "submission": submission,
        "reply_passphrase": credentials.reply_passphrase,
    }
    for side in KEYRING_SIDES:
        kill_agent(config.gnupg_home(side))


def _env(config: Config) -> dict[str, str]:
    return {"BACKUP_INSTANCE_DIR": str(config.instance_dir), "DATABASE_URL": config.database_url}


def test_a_process_refuses_the_former_single_home(
    config: Config, redis: Redis, legacy: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match="backupctl db upgrade"):
        build_runtime(config, redis=redis, side="source")
    assert not config.gnupg_home("source").exists()


def test_db_upgrade_splits_the_former_home(
    config: Config, redis: Redis, legacy: dict[str, str]
) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env=_env(config))
    assert result.exit_code == 0, result.output
    assert "from the former single GnuPG home" in result.output
    # Nothing of the former home is left beside the homes per side.
    assert sorted(p.name for p in config.gnupg_root.iterdir()) == sorted(KEYRING_SIDES)
    rings = {side: GpgKeyring(config.gnupg_home(side)) for side in KEYRING_SIDES}
    secret = {side for side, ring in rings.items() if ring.has_secret_key(legacy["reply"])}
    assert secret == {"source"}
    secret = {side for side, ring in rings.items() if ring.has_secret_key(legacy["account"])}
    assert secret == {"journalist"}
    for side in ("source", "journalist"):
        for key in ("reply", "account", "submission"):
            assert rings[side].has_public_key(legacy[key]), (side, key)
    assert rings["worker"].gpg.list_keys(secret=True) == []

    # The source's reply key still opens with its codename-derived passphrase.
    probe = rings["journalist"].seal_bytes(b"probe", [legacy["reply"]])
    assert rings["source"].open_bytes(probe, legacy["reply_passphrase"]) == b"probe"
    # The processes start, and a second upgrade changes nothing.
    runtime = build_runtime(config, redis=redis, side="source")
    assert runtime.submission_fingerprint == legacy["submission"]
    runtime.engine.dispose()
    again = CliRunner().invoke(main, ["db", "upgrade"], env=_env(config))
    assert again.exit_code == 0 and "former single" not in again.output
