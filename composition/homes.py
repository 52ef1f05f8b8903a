"""The GnuPG homes of an instance, one per side (vault.config.KEYRING_SIDES)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from keys.gpg import GpgKeyring
from keys.homes import is_legacy_home, split_legacy_home
from vault.config import SEALING_SIDES, Config
from vault.db import make_engine, make_session_factory
from vault.models import AccountKey, Source


def split_keyring(config: Config) -> list[Path]:
    """Turn a former single server home into one per side (keys.homes); the homes made.

    The database says who owns which secret half: reply keys the source interface,
    account keys the reviewer interface. The worker's home starts empty.
    """
    if not is_legacy_home(config.gnupg_root):
        return []
    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as db:
            replies = set(db.scalars(select(Source.reply_key_fingerprint)))
            accounts = set(db.scalars(select(AccountKey.fingerprint)))
    finally:
        engine.dispose()
    owned = {"source": replies, "journalist": accounts, "worker": set[str]()}
    return split_legacy_home(config.gnupg_root, owned, binary=config.gpg_binary)


def sealing_keyrings(config: Config) -> list[GpgKeyring]:
    """The homes that hold the submission public key (the operator's commands load it
    into each); a former single home is split first."""
    split_keyring(config)
    return [GpgKeyring(config.gnupg_home(side), config.gpg_binary) for side in SEALING_SIDES]
