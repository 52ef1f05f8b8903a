"""Typed, frozen configuration built from the environment and one instance directory.

`load_config(env)` is pure apart from creating the instance directory and its secrets
file once: secrets are generated there on first use and never live in the repository.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vault.errors import ConfigError
from vault.notify_config import NotifyConfig, load_notify_config

DEFAULT_MAX_UPLOAD = 500 * 1024 * 1024
_MIB = 1024 * 1024
SECRETS_FILE = "secrets.json"
_SECRET_NAMES = (
    "source_secret_key",
    "journalist_secret_key",
    "lookup_pepper",
    "reply_key_pepper",
    "session_pepper",
)


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
class Secrets:
    """Per-instance random values, generated once into the instance directory."""

    source_secret_key: bytes
    journalist_secret_key: bytes
    lookup_pepper: bytes
    reply_key_pepper: bytes
    session_pepper: bytes

    def __repr__(self) -> str:  # never print secrets in a traceback
        return "Secrets(<redacted>)"


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
    secrets: Secrets = field(repr=False)
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
    # Onion services (onion/). In production each app answers only for its own .onion
    # Host (plus localhost for health checks); unset there means localhost only.
    source_onion_host: str | None = None
    journalist_onion_host: str | None = None
    # Where each service's HiddenServiceDir lives (reviewer keys: journalist/authorized_
    # clients/). Default: <instance>/onion in development, /var/lib/tor/backup in production.
    tor_services_dir: Path | None = None
    tor_control_socket: Path = Path("/run/tor/control")
    # Development: `backupctl run` starts its own tor unless this is off; extra torrc
    # lines (bridges, a test network) come from `dev_torrc`.
    dev_tor: bool = True
    dev_torrc: Path | None = None
    tor_binary: str | None = None  # None: `tor` on PATH, else /usr/sbin/tor
    # Care notifications (vault.notifications): no channel unless the admin sets one.
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    # Observatory (docs/observatory.md): the source app's public page of published
    # figures (/figures) is off unless the admin turns it on; the early warning flags a
    # region whose latest count is this many percent above the mean of the previous
    # `early_warning_periods` periods.
    public_figures: bool = False
    early_warning_rise_percent: int = 50
    early_warning_periods: int = 3

    @property
    def store_dir(self) -> Path:
        return self.instance_dir / "store"

    @property
    def gnupg_home(self) -> Path:
        return self.instance_dir / "gnupg"

    @property
    def log_dir(self) -> Path:
        return self.instance_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.instance_dir / "run"

    @property
    def onion_dir(self) -> Path:
        """The HiddenServiceDirs' parent: `<dir>/source`, `<dir>/journalist`."""
        if self.tor_services_dir is not None:
            return self.tor_services_dir
        return Path("/var/lib/tor/backup") if self.production else self.instance_dir / "onion"


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


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
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


def _onion_host(env: Mapping[str, str], name: str) -> str | None:
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


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw).expanduser().resolve() if raw else None


def instance_path(env: Mapping[str, str]) -> Path:
    """The instance directory `env` names (BACKUP_INSTANCE_DIR, else ./instance), absolute."""
    return Path(env.get("BACKUP_INSTANCE_DIR") or Path.cwd() / "instance").resolve()


def ensure_instance_dir(path: Path) -> Path:
    """Create the instance directory (0700) and its sub-directories."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for sub in ("store", "gnupg", "log", "run"):
        (path / sub).mkdir(mode=0o700, exist_ok=True)
    return path


def load_secrets(instance_dir: Path) -> Secrets:
    """Read the instance secrets, generating any that are missing (file mode 0600)."""
    path = instance_dir / SECRETS_FILE
    values: dict[str, str] = {}
    if path.exists():
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"unreadable secrets file {path}") from exc
    missing = [name for name in _SECRET_NAMES if name not in values]
    if missing:
        for name in missing:
            values[name] = secrets.token_hex(32)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return Secrets(**{name: bytes.fromhex(values[name]) for name in _SECRET_NAMES})


def _care_escalate_minutes(env: Mapping[str, str]) -> int:
    minutes = _int(env, "BACKUP_CARE_ESCALATE_MINUTES", Config.care_escalate_minutes)
    if minutes == 0:
        raise ConfigError("BACKUP_CARE_ESCALATE_MINUTES must be positive")
    return minutes


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from environment variables (`os.environ` by default)."""
    env = os.environ if env is None else env
    instance = instance_path(env)
    ensure_instance_dir(instance)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'backup.sqlite'}"
    production = _bool(env, "BACKUP_PRODUCTION", False)
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
        secrets=load_secrets(instance),
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
        secure_cookies=_bool(env, "BACKUP_SECURE_COOKIES", False),
        gpg_binary=env.get("BACKUP_GPG_BINARY") or "gpg",
        source_port=_int(env, "BACKUP_SOURCE_PORT", 8080),
        journalist_port=_int(env, "BACKUP_JOURNALIST_PORT", 8081),
        source_onion_host=_onion_host(env, "BACKUP_SOURCE_ONION_HOST"),
        journalist_onion_host=_onion_host(env, "BACKUP_JOURNALIST_ONION_HOST"),
        tor_services_dir=_path(env, "BACKUP_TOR_SERVICES_DIR"),
        tor_control_socket=_path(env, "BACKUP_TOR_CONTROL_SOCKET") or Path("/run/tor/control"),
        dev_tor=_bool(env, "BACKUP_DEV_TOR", True),
        dev_torrc=_path(env, "BACKUP_DEV_TORRC"),
        tor_binary=env.get("BACKUP_TOR_BINARY") or None,
        notify=load_notify_config(env, production),
        public_figures=_bool(env, "BACKUP_PUBLIC_FIGURES", False),
        early_warning_rise_percent=_positive(env, "BACKUP_EARLY_WARNING_RISE_PERCENT", 50),
        early_warning_periods=_positive(env, "BACKUP_EARLY_WARNING_PERIODS", 3),
    )
