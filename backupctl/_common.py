"""What the commands share: the instance they work on, errors, key warnings."""

from __future__ import annotations

import os
import subprocess  # nosec B404
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from keys.gpg import GpgKeyring
from keys.lifecycle import DEV_KEY_NAME
from onion.config import OnionConfig, load_onion_config
from vault.config import Config, load_config
from vault.errors import ConfigError

REDIS_SOCKET_NAME = "redis.sock"
MIN_PASSPHRASE_CHARS = 12
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, NUL included
_LONGEST_AGENT_SOCKET = "/S.gpg-agent.browser"


@dataclass(frozen=True)
class CliState:
    """Options of the root command, handed to every sub-command."""

    instance: Path | None = None

    def env(self, instance: Path | None = None) -> dict[str, str]:
        """The process environment, with the chosen instance directory (absolute)."""
        env = dict(os.environ)
        chosen = instance or self.instance
        if chosen is not None:
            env["BACKUP_INSTANCE_DIR"] = str(chosen.expanduser().resolve())
        return env

    def config(self, instance: Path | None = None) -> Config:
        """The configuration of a command: it holds none of the interfaces' secrets."""
        return load_config(self.env(instance))

    def onion(self, instance: Path | None = None) -> OnionConfig:
        """The Tor settings (onion.config)."""
        return load_onion_config(self.env(instance))


def private_redis_socket(config: Config) -> Path:
    """Where `backupctl run` puts its private Redis when REDIS_URL is unset."""
    return config.run_dir / REDIS_SOCKET_NAME


def redis_url_for(config: Config) -> str:
    """REDIS_URL, or else the private Redis of a `backupctl run` of this instance."""
    if config.redis_url:
        return config.redis_url
    socket = private_redis_socket(config)
    if socket.exists():
        return f"unix://{socket}"
    raise ConfigError(
        f"REDIS_URL is not set and no `backupctl run` of this instance is running (no {socket})"
    )


def check_gnupg_home(home: Path) -> None:
    """Fail clearly if gpg-agent could not create its sockets for `home`.

    gpg puts them in /run/user/<uid>/gnupg when that exists, else in the home itself,
    where a deep path overflows the 108-byte limit of a unix socket name. gpg then only
    says "key not created" or "decryption failed", which sends people the wrong way.
    """
    listed = subprocess.run(  # nosec B603 B607
        ["gpgconf", "--homedir", str(home), "--list-dirs", "socketdir"],
        capture_output=True,
        text=True,
        check=False,
    )
    socket_dir = listed.stdout.strip() or str(home)
    if len(socket_dir.encode()) + len(_LONGEST_AGENT_SOCKET) > _MAX_SOCKET_PATH:
        raise ConfigError(
            f"the GnuPG home {home} is too deep for gpg-agent's sockets: use a shorter "
            f"path (or create /run/user/{os.getuid()} for gpg to put them there)"
        )


def is_development_key(keyring: GpgKeyring, fingerprint: str) -> bool:
    return any(
        DEV_KEY_NAME in uid
        for key in keyring.gpg.list_keys(keys=[fingerprint])
        for uid in key.get("uids", [])
    )


def development_key_banner(instance_dir: Path | None = None) -> None:
    """Loud, on stderr, every time: a development key must never meet a real source."""
    bar = "!" * 78
    lines = [
        bar,
        "!!  DEVELOPMENT SUBMISSION KEY - NOT FOR REAL SUBMISSIONS",
        "!!  Its secret half and passphrase sit on THIS machine, beside the server:",
        "!!  anyone who can read the instance directory can read every submission.",
    ]
    if instance_dir is not None:
        lines.append(f"!!    {instance_dir}")
    lines += [
        "!!  Never let a source reach this instance. For real use, generate the key on",
        "!!  the air-gapped workstation (`backupctl keys generate`) and load its public",
        "!!  half here (`backupctl keys load PUBLIC.asc --replace`).",
        bar,
    ]
    click.secho("\n".join(lines), fg="red", bold=True, err=True)


def read_passphrase_file(path: Path) -> str:
    """The first line of `path` (automation; the file should be readable by you alone)."""
    text = path.read_text(encoding="utf-8")
    passphrase = text.splitlines()[0] if text else ""
    if not passphrase:
        raise click.ClickException(f"{path}: empty passphrase file")
    return passphrase


def echo_removed(name: str, removed: Sequence[str]) -> None:
    """The warning after cleaning: the metadata the original carries (and its copy not)."""
    if not removed:
        click.echo(f"  {name}: mat2 found no metadata in it")
        return
    click.echo(
        f"  WARNING: {name} carries metadata that can identify a source or a place; "
        "removed from the cleaned copy:"
    )
    for entry in removed:
        click.echo(f"    removed  {entry}")
