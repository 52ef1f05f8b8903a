"""The submission public key where `backupctl keys load` puts it: in every home that
seals (the source interface's and the reviewer interface's), so an app served from the
test's instance seals as a deployed one does."""

from __future__ import annotations

from composition.homes import sealing_keyrings
from keys.gpg import GpgKeyring, kill_agent
from keys.lifecycle import load_submission_key
from vault.config import Config


def load_into_sealing_homes(config: Config, public_armored: str) -> list[GpgKeyring]:
    """Load the key into each sealing home; the homes, for `stop_agents`."""
    homes = sealing_keyrings(config)
    for keyring in homes:
        load_submission_key(config.instance_dir, keyring, public_armored)
    return homes


def stop_agents(homes: list[GpgKeyring]) -> None:
    for keyring in homes:
        kill_agent(keyring.home)
