"""What the commands share: the instance they work on, errors, key warnings."""

from __future__ import annotations

import os
import shlex
import subprocess  # nosec B404
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from keys.gpg import GpgKeyring
from keys.lifecycle import DEV_KEY_NAME
from onion.config import OnionConfig, load_onion_config
from vault.config import Config, instance_path, load_config
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

    def config(self, instance: Path | None = None, *, create: bool = False) -> Config:
        """The configuration of the chosen instance; it holds none of the interfaces' secrets.

        Only the commands that set an instance up (`run`, `db upgrade`, `keys load`) pass
        `create`: any other one, pointed at a directory that does not exist (a command
        typed from the wrong directory, a variable not exported), would otherwise create
        a new empty instance there, secrets included, and then fail on its empty
        database with a misleading message.
        """
        env = self.env(instance)
        if not create:
            require_instance(env)
        return load_config(env)

    def onion(self, instance: Path | None = None) -> OnionConfig:
        """The Tor settings (onion.config)."""
        return load_onion_config(self.env(instance))


def require_instance(env: dict[str, str]) -> None:
    """Refuse, creating nothing, when the instance directory `env` names does not exist."""
    path = instance_path(env)
    if path.is_dir():
        return
    origin = (
        "BACKUP_INSTANCE_DIR / --instance"
        if env.get("BACKUP_INSTANCE_DIR")
        else "no BACKUP_INSTANCE_DIR and no --instance, so ./instance"
    )
    raise click.ClickException(
        f"no instance directory at {path} ({origin}). Point to the instance with "
        "`backupctl --instance DIR COMMAND...` or `export BACKUP_INSTANCE_DIR=DIR` "
        "(production: /var/lib/backup, set by /usr/local/sbin/backupctl); a new one is "
        "made by `backupctl run` (development) or `backupctl db upgrade`."
    )


def backupctl_command() -> str:
    """This very backupctl, as a shell command that works when pasted: its absolute path.

    The commands that `backupctl run` prints must work as printed, but the venv's bin/ is
    on nobody's PATH (scripts/run.sh calls `.venv/bin/backupctl` by path). The absolute
    path of the script beside this interpreter is right for any user, any directory and
    any number of checkouts, and changes nothing on the system; a wrapper in
    /usr/local/bin would do the first only for root, and point at whichever checkout ran
    last. Not resolved: the venv's python is a symlink to the system's.
    """
    script = Path(sys.executable).parent / "backupctl"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m backupctl"


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
    cmd = backupctl_command()
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
        "!!  half here:",
        f"!!    {cmd} --instance {shlex.quote(str(instance_dir or 'DIR'))} \\",
        "!!      keys load PUBLIC.asc --replace",
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
