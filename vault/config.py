"""Typed, frozen configuration built from the environment and one instance directory.

`load_config(env, interface=...)` is pure apart from creating the instance directory and,
in development, the secrets files on first use. Each process holds only the secrets its
job needs (docs/threat-model.md, "Secrets per process"): the source interface its own,
the reviewer interface its own, the worker and the CLI none. The secrets never live in
the repository; production never generates them silently (`backupctl secrets init`).
The Tor settings live in `onion.config`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from vault.errors import ConfigError
from vault.notify_config import NotifyConfig, load_notify_config
from vault.tsa_config import TsaConfig, load_tsa_config

DEFAULT_MAX_UPLOAD = 500 * 1024 * 1024
_MIB = 1024 * 1024
# Before secrets were split per process, one file held them all; it is migrated (and
# removed) by `init_secrets`, on first start in development, by `backupctl secrets init`
# in production.
LEGACY_SECRETS_FILE = "secrets.json"
SECRETS_DIR = "secrets"  # <instance>/secrets/<interface>.json unless BACKUP_SECRETS_DIR
SECRETS_INIT_COMMAND = "backupctl secrets init"
Interface = Literal["source", "journalist"]
INTERFACES: tuple[Interface, ...] = ("source", "journalist")
# Each process keeps its keys in a GnuPG home of its own (<instance>/gnupg/<side>): the
# source interface holds the sources' reply keys, the reviewer interface the accounts'
# keys (and the CLI, which makes them), the worker none. docs/threat-model.md.
KeyringSide = Literal["source", "journalist", "worker"]
StoreBackend = Literal["local", "postgresql"]
KEYRING_SIDES: tuple[KeyringSide, ...] = ("source", "journalist", "worker")
# The sides that seal and so hold the submission public key.
SEALING_SIDES: tuple[KeyringSide, ...] = ("source", "journalist")


@dataclass(frozen=True)
class ScryptParams:
    """Cost of the codename derivation. Production: ~2^14·8·128 B = 16 MiB, ~50 ms."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 256 * self.n * self.r + 1024 * 1024


@dataclass(frozen=True)
class SourceSecrets:
    """The source interface's: its Flask key (CSRF tokens), the pepper of its sessions,
    and the peppers of the two codename derivations (lookup id, reply-key passphrase)."""

    cookie_key: bytes
    session_pepper: bytes
    lookup_pepper: bytes
    reply_key_pepper: bytes

    def __repr__(self) -> str:  # never print secrets in a traceback
        return "SourceSecrets(<redacted>)"


@dataclass(frozen=True)
class JournalistSecrets:
    """The reviewer interface's: its Flask key (CSRF tokens), the pepper of its sessions,
    and the key that signs reviewer API tokens (vault.services.api_tokens)."""

    cookie_key: bytes
    session_pepper: bytes
    api_token_key: bytes

    def __repr__(self) -> str:
        return "JournalistSecrets(<redacted>)"


_SECRET_CLASSES: dict[Interface, type[SourceSecrets] | type[JournalistSecrets]] = {
    "source": SourceSecrets,
    "journalist": JournalistSecrets,
}


@dataclass(frozen=True)
class Secrets:
    """What this process holds: one interface's secrets, both (tests), or none (the
    worker and the CLI need none of them)."""

    source: SourceSecrets | None = None
    journalist: JournalistSecrets | None = None

    def for_source(self) -> SourceSecrets:
        if self.source is None:
            raise ConfigError("this process holds no secrets of the source interface")
        return self.source

    def for_journalist(self) -> JournalistSecrets:
        if self.journalist is None:
            raise ConfigError("this process holds no secrets of the reviewer interface")
        return self.journalist

    def __repr__(self) -> str:
        held = [name for name in INTERFACES if getattr(self, name) is not None]
        return f"Secrets(holds={held})"


@dataclass(frozen=True)
class Budget:
    """What one client may try: `burst` attempts at once, then one every `interval_seconds`.

    Budgets are per client (vault.throttle): nothing one client does spends another's.
    """

    burst: int
    interval_seconds: int

    def __post_init__(self) -> None:
        if self.burst < 1 or self.interval_seconds < 1:
            raise ConfigError("a budget needs a burst and an interval of at least 1")


@dataclass(frozen=True)
class DiskReserve:
    """Room kept free on the store's and the database's filesystems: new uploads,
    messages and replies are refused before they would eat into it (vault.diskspace)."""

    bytes: int = 1024 * 1024 * 1024
    percent: int = 1  # of the filesystem's size, when that is more than `bytes`
    # More paths whose filesystems are watched (e.g. PostgreSQL's data directory).
    watch: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Config:
    instance_dir: Path
    database_url: str
    redis_url: str | None
    # This process's secrets only (see `Secrets`); none unless loaded for an interface.
    secrets: Secrets = field(default=Secrets(), repr=False)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    max_form_field_bytes: int = 200 * 1024
    # What one source may have stored (ciphertext of their live submissions).
    source_quota_bytes: int = 2 * DEFAULT_MAX_UPLOAD
    disk_reserve: DiskReserve = DiskReserve()
    codename_words: int = 7
    scrypt: ScryptParams = ScryptParams()
    session_idle_seconds: int = 30 * 60
    # Per-client budgets (docs/threat-model.md, "Floods"): codename logins, reviewer
    # logins (web and API tokens share one), new codenames.
    source_login_budget: Budget = Budget(burst=10, interval_seconds=30)
    reviewer_login_budget: Budget = Budget(burst=10, interval_seconds=30)
    source_create_budget: Budget = Budget(burst=5, interval_seconds=120)
    # An urgent care request still open and untaken this long is escalated once
    # (vault.services.care.escalate_overdue).
    care_escalate_minutes: int = 30
    production: bool = False
    secure_cookies: bool = False
    gpg_binary: str = "gpg"
    source_port: int = 8080
    journalist_port: int = 8081
    # The onion Host names the apps answer to in production (plus localhost for health
    # checks); unset there means localhost only. The other Tor settings: onion.config.
    source_onion_host: str | None = None
    journalist_onion_host: str | None = None
    # Care notifications (vault.notifications): no channel unless the admin sets one.
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    # Observatory (docs/observatory.md): the source app's public page of published
    # figures (/figures) is off unless the admin turns it on; the early warning flags a
    # region whose latest count is this many percent above the mean of the previous
    # `early_warning_periods` periods.
    public_figures: bool = False
    early_warning_rise_percent: int = 50
    early_warning_periods: int = 3
    # Time-stamping authorities anchoring the chains (vault.tsa_config): none by default.
    tsa: TsaConfig = field(default_factory=TsaConfig)
    # Where sealed files are kept: "local", the store directory alone (one server), or
    # "postgresql", also in the database, shared by several servers (vault.shared_store).
    store_backend: StoreBackend = "local"

    @property
    def store_dir(self) -> Path:
        return self.instance_dir / "store"

    @property
    def gnupg_root(self) -> Path:
        """Holds one GnuPG home per side (a single home here is a former layout)."""
        return self.instance_dir / "gnupg"

    def gnupg_home(self, side: KeyringSide) -> Path:
        return self.gnupg_root / side

    @property
    def log_dir(self) -> Path:
        return self.instance_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.instance_dir / "run"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value == 0:
        raise ConfigError(f"{name} must be positive")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean, got {raw!r}")


def _budget(env: Mapping[str, str], prefix: str, default: Budget) -> Budget:
    """`<prefix>_BURST` and `<prefix>_INTERVAL_SECONDS`, each defaulting separately."""
    return Budget(
        burst=_int(env, f"{prefix}_BURST", default.burst),
        interval_seconds=_int(env, f"{prefix}_INTERVAL_SECONDS", default.interval_seconds),
    )


def _create_budget(env: Mapping[str, str]) -> Budget:
    # BACKUP_NEW_SOURCES_PER_10_MIN (the former service-wide cap) still works: it now
    # means N codenames per client per 10 minutes. The newer variables take precedence.
    default = Config.source_create_budget
    legacy = _int(env, "BACKUP_NEW_SOURCES_PER_10_MIN", 0)
    if legacy:
        default = Budget(burst=legacy, interval_seconds=max(600 // legacy, 1))
    return _budget(env, "BACKUP_NEW_SOURCES", default)


def onion_host(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return None
    # v3 only: 56 base32 characters. A typo here would lock every visitor out.
    if not re.fullmatch(r"[a-z2-7]{56}\.onion", raw):
        raise ConfigError(f"{name} must be a v3 onion address (56 characters + .onion)")
    return raw


def _disk_reserve(env: Mapping[str, str]) -> DiskReserve:
    percent = _int(env, "BACKUP_DISK_RESERVE_PERCENT", DiskReserve.percent)
    if percent > 50:
        raise ConfigError("BACKUP_DISK_RESERVE_PERCENT above 50 would refuse almost everything")
    watched = (env.get("BACKUP_DISK_WATCH") or "").split(":")
    return DiskReserve(
        bytes=_int(env, "BACKUP_DISK_RESERVE_MIB", DiskReserve.bytes // _MIB) * _MIB,
        percent=percent,
        watch=tuple(Path(raw).expanduser().resolve() for raw in watched if raw),
    )


def env_path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw).expanduser().resolve() if raw else None


def instance_path(env: Mapping[str, str]) -> Path:
    """The instance directory `env` names (BACKUP_INSTANCE_DIR, else ./instance), absolute."""
    return Path(env.get("BACKUP_INSTANCE_DIR") or Path.cwd() / "instance").resolve()


def ensure_instance_dir(path: Path) -> Path:
    """Create the instance directory (0700) and its sub-directories.

    An existing directory this process owns is made owner-only again. One that belongs
    to root is left as it is: a deployment that runs each process as its own user
    (ansible/, docs/deploy.md) makes it root's and shares it with them through a group,
    and its deploy-time commands, run as root, must not take that away.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner = path.stat().st_uid
    if owner == os.geteuid() and owner != 0:
        os.chmod(path, 0o700)
    for sub in ("store", "gnupg", "log", "run"):
        if not (path / sub).is_dir():
            (path / sub).mkdir(mode=0o700, exist_ok=True)
    return path


def secrets_dir_from_env(env: Mapping[str, str], instance_dir: Path) -> Path:
    """Where the per-process secrets files are: BACKUP_SECRETS_DIR; else, under systemd,
    the unit's credentials directory (production: each app's unit is handed its own file
    only, ansible/roles/services); else <instance>/secrets."""
    return (
        env_path(env, "BACKUP_SECRETS_DIR")
        or env_path(env, "CREDENTIALS_DIRECTORY")
        or instance_dir / SECRETS_DIR
    )


def secrets_file(directory: Path, interface: Interface) -> Path:
    return directory / f"{interface}.json"


def _write_new(path: Path, values: Mapping[str, str]) -> bool:
    """Write `path` (0600) unless it exists; True if this call created it.

    Written aside and linked into place: several workers starting at once never read a
    half-written file, and the first to link wins (the others read its values).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(values), handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _read_values(path: Path) -> dict[str, str]:
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable secrets file {path}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"unreadable secrets file {path}")
    return values


def _from_legacy(interface: Interface, legacy: Mapping[str, str]) -> dict[str, str]:
    """The values an interface keeps from the former single secrets file.

    The source interface keeps all of its own: a new lookup or reply-key pepper would
    lock every source out. The reviewer interface keeps its key (CSRF tokens, and API
    tokens still valid) but gets a session pepper of its own: it shared the source's,
    so reviewers log in again once.
    """
    if interface == "source":
        return {
            "cookie_key": legacy["source_secret_key"],
            "session_pepper": legacy["session_pepper"],
            "lookup_pepper": legacy["lookup_pepper"],
            "reply_key_pepper": legacy["reply_key_pepper"],
        }
    return {
        "cookie_key": legacy["journalist_secret_key"],
        "api_token_key": legacy["journalist_secret_key"],
    }


def init_secrets(directory: Path, instance_dir: Path) -> list[Path]:
    """Create each interface's secrets file that is missing (0600, in a 0700 directory),
    taking the values of a former <instance>/secrets.json, which is then removed.

    Returns the files this call created. Existing files are never changed, and a former
    file that disagrees with them (an older backup restored over a newer server) is an
    error, not something to drop: its peppers may be the only ones that open the
    restored database's sources.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    legacy_path = instance_dir / LEGACY_SECRETS_FILE
    kept: dict[Interface, dict[str, str]] = {}
    if legacy_path.exists():
        legacy = _read_values(legacy_path)
        try:
            kept = {interface: _from_legacy(interface, legacy) for interface in INTERFACES}
        except KeyError as exc:
            raise ConfigError(f"incomplete secrets file {legacy_path}") from exc
    created = []
    for interface in INTERFACES:
        path = secrets_file(directory, interface)
        values = dict(kept.get(interface, {}))
        if path.exists():
            current = _read_values(path)
            if any(current.get(name) != value for name, value in values.items()):
                raise ConfigError(
                    f"{legacy_path} and {path} hold different secrets (an older backup "
                    "restored?): keep the pair that belongs to this database and move the "
                    "other away (docs/deploy.md)"
                )
            continue
        for spec in fields(_SECRET_CLASSES[interface]):
            values.setdefault(spec.name, secrets.token_hex(32))
        if _write_new(path, values):
            created.append(path)
    legacy_path.unlink(missing_ok=True)
    return created


def load_secrets(
    directory: Path, interface: Interface | None, *, production: bool, instance_dir: Path
) -> Secrets:
    """The secrets of one interface (None: no secrets, as for the worker and the CLI).

    A missing file is created in development (from a former secrets.json if there is
    one); in production it is an error naming the command that creates it.
    """
    if interface is None:
        return Secrets()
    path = secrets_file(directory, interface)
    if not path.exists():
        if production:
            raise ConfigError(
                f"no secrets file {path} for the {interface} interface: create it with "
                f"`{SECRETS_INIT_COMMAND}` (docs/deploy.md); production never makes "
                "secrets on its own"
            )
        init_secrets(directory, instance_dir)
    values = _read_values(path)
    cls = _SECRET_CLASSES[interface]
    try:
        loaded = cls(**{spec.name: bytes.fromhex(values[spec.name]) for spec in fields(cls)})
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"incomplete or malformed secrets file {path}") from exc
    if any(len(value) < 32 for value in vars(loaded).values()):
        raise ConfigError(f"secrets file {path}: a secret is shorter than 256 bits")
    if isinstance(loaded, SourceSecrets):
        return Secrets(source=loaded)
    return Secrets(journalist=loaded)


def _care_escalate_minutes(env: Mapping[str, str]) -> int:
    minutes = _int(env, "BACKUP_CARE_ESCALATE_MINUTES", Config.care_escalate_minutes)
    if minutes == 0:
        raise ConfigError("BACKUP_CARE_ESCALATE_MINUTES must be positive")
    return minutes


def load_config(
    env: Mapping[str, str] | None = None, *, interface: Interface | None = None
) -> Config:
    """Build the configuration from environment variables (`os.environ` by default).

    `interface`: the app this process serves; its secrets are loaded, and only its.
    Without one (worker, CLI) the configuration holds no secrets.
    """
    env = os.environ if env is None else env
    instance = instance_path(env)
    ensure_instance_dir(instance)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'backup.sqlite'}"
    production = env_bool(env, "BACKUP_PRODUCTION", False)
    words = _int(env, "BACKUP_CODENAME_WORDS", 7)
    if words < 7:
        raise ConfigError("BACKUP_CODENAME_WORDS below 7 gives less than 90 bits")
    max_upload = _int(env, "BACKUP_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD)
    if max_upload == 0:
        raise ConfigError("BACKUP_MAX_UPLOAD_BYTES must be positive")
    # Default: two of the largest uploads. Set, it must be positive.
    quota_mib = _int(env, "BACKUP_SOURCE_QUOTA_MIB", 0)
    if env.get("BACKUP_SOURCE_QUOTA_MIB") and quota_mib == 0:
        raise ConfigError("BACKUP_SOURCE_QUOTA_MIB must be positive")
    quota = quota_mib * _MIB if quota_mib else 2 * max_upload
    scrypt_n = _int(env, "BACKUP_SCRYPT_N", ScryptParams.n)
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
        raise ConfigError("BACKUP_SCRYPT_N must be a power of two")
    if production and scrypt_n < 2**14:
        raise ConfigError("BACKUP_SCRYPT_N below 2^14 is refused in production")
    return Config(
        instance_dir=instance,
        database_url=database_url,
        redis_url=env.get("REDIS_URL") or None,
        secrets=load_secrets(
            secrets_dir_from_env(env, instance),
            interface,
            production=production,
            instance_dir=instance,
        ),
        max_upload_bytes=max_upload,
        source_quota_bytes=quota,
        disk_reserve=_disk_reserve(env),
        codename_words=words,
        scrypt=ScryptParams(n=scrypt_n),
        session_idle_seconds=_int(env, "BACKUP_SESSION_IDLE_SECONDS", 30 * 60),
        source_login_budget=_budget(env, "BACKUP_SOURCE_LOGIN", Config.source_login_budget),
        reviewer_login_budget=_budget(env, "BACKUP_REVIEWER_LOGIN", Config.reviewer_login_budget),
        source_create_budget=_create_budget(env),
        care_escalate_minutes=_care_escalate_minutes(env),
        production=production,
        secure_cookies=env_bool(env, "BACKUP_SECURE_COOKIES", False),
        gpg_binary=env.get("BACKUP_GPG_BINARY") or "gpg",
        source_port=_int(env, "BACKUP_SOURCE_PORT", 8080),
        journalist_port=_int(env, "BACKUP_JOURNALIST_PORT", 8081),
        source_onion_host=onion_host(env, "BACKUP_SOURCE_ONION_HOST"),
        journalist_onion_host=onion_host(env, "BACKUP_JOURNALIST_ONION_HOST"),
        notify=load_notify_config(env, production),
        public_figures=env_bool(env, "BACKUP_PUBLIC_FIGURES", False),
        early_warning_rise_percent=_positive(env, "BACKUP_EARLY_WARNING_RISE_PERCENT", 50),
        early_warning_periods=_positive(env, "BACKUP_EARLY_WARNING_PERIODS", 3),
        tsa=load_tsa_config(env, instance),
        store_backend=_store_backend(env, database_url),
    )


def _store_backend(env: Mapping[str, str], database_url: str) -> StoreBackend:
    raw = (env.get("BACKUP_STORE") or "local").strip().lower()
    if raw == "local":
        return "local"
    if raw != "postgresql":
        raise ConfigError(f"BACKUP_STORE must be local or postgresql, got {raw!r}")
    if not database_url.startswith("postgresql"):
        raise ConfigError("BACKUP_STORE=postgresql needs a PostgreSQL DATABASE_URL")
    return "postgresql"
