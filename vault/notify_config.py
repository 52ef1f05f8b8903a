"""Configuration of the care notifications (vault.notifications): the channels the admin
chose, checked once when the configuration loads.

Only the worker sends, so only the worker needs the SMTP password and the webhook secret:
they are never values in the environment every process reads, only paths to files the
worker alone is given (in production, systemd credentials of the worker's unit). The
apps hold the channels' names and addresses, enough to queue a notification.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vault.errors import ConfigError

EMAIL = "email"
WEBHOOK = "webhook"
# One minute: a request arriving just after a message went out is still told within the
# minute (the care goal is "in the queue and announced within 60 s").
DEFAULT_INTERVAL_SECONDS = 60
# A production interval under a minute would let a flood of requests become a flood of
# mail; tests and development may go lower.
MIN_PRODUCTION_INTERVAL_SECONDS = 60

# A bare addr-spec: no display name, no comment, nothing that could end a header line.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class EmailChannel:
    """The organisation's SMTP relay and who gets the message."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    starttls: bool = True
    username: str | None = None
    # Read by the worker at each send, never by the apps.
    password_file: Path | None = None
    # Said in EHLO instead of this machine's own name, which the relay need not learn.
    helo_name: str = "localhost"
    timeout_seconds: int = 20


@dataclass(frozen=True)
class WebhookChannel:
    """A receiver that gets a small fixed JSON by HTTP POST."""

    url: str
    secret_file: Path | None = None
    timeout_seconds: int = 10


@dataclass(frozen=True)
class NotifyConfig:
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    # At most one message per channel and kind of event in this many seconds.
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS

    @property
    def channels(self) -> tuple[str, ...]:
        named = ((EMAIL, self.email), (WEBHOOK, self.webhook))
        return tuple(name for name, channel in named if channel is not None)


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    return raw or None


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (_text(env, name) or "").lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean, got {raw!r}")


def _address(name: str, raw: str) -> str:
    if not _ADDRESS.fullmatch(raw):
        raise ConfigError(f"{name}: {raw!r} is not a bare e-mail address (user@domain)")
    return raw


def _secret_path(env: Mapping[str, str], name: str) -> Path | None:
    # A secret as a value would sit in the environment of every process.
    value_name = name.removesuffix("_FILE")
    if _text(env, value_name) is not None:
        raise ConfigError(f"{value_name} is refused: put the secret in a file, set {name}")
    raw = _text(env, name)
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_absolute():
        raise ConfigError(f"{name} must be an absolute path")
    return path


def _email(env: Mapping[str, str]) -> EmailChannel | None:
    host = _text(env, "BACKUP_NOTIFY_SMTP_HOST")
    recipients_raw = _text(env, "BACKUP_NOTIFY_EMAIL_TO")
    sender = _text(env, "BACKUP_NOTIFY_SMTP_FROM")
    password_file = _secret_path(env, "BACKUP_NOTIFY_SMTP_PASSWORD_FILE")
    username = _text(env, "BACKUP_NOTIFY_SMTP_USERNAME")
    if host is None:
        if recipients_raw or sender or username or password_file:
            raise ConfigError("BACKUP_NOTIFY_SMTP_HOST is needed for e-mail notifications")
        return None
    if not _HOSTNAME.fullmatch(host):
        raise ConfigError(f"BACKUP_NOTIFY_SMTP_HOST: {host!r} is not a host name")
    if sender is None or recipients_raw is None:
        raise ConfigError("e-mail notifications need BACKUP_NOTIFY_SMTP_FROM and _EMAIL_TO")
    recipients = tuple(
        _address("BACKUP_NOTIFY_EMAIL_TO", part.strip())
        for part in recipients_raw.split(",")
        if part.strip()
    )
    if not recipients:
        raise ConfigError("BACKUP_NOTIFY_EMAIL_TO names no address")
    if (username is None) != (password_file is None):
        raise ConfigError(
            "BACKUP_NOTIFY_SMTP_USERNAME and BACKUP_NOTIFY_SMTP_PASSWORD_FILE go together"
        )
    starttls = _flag(env, "BACKUP_NOTIFY_SMTP_STARTTLS", True)
    if username is not None and not starttls and not is_loopback(host):
        raise ConfigError("an SMTP login without STARTTLS would send the password in clear")
    helo_name = _text(env, "BACKUP_NOTIFY_SMTP_HELO") or EmailChannel.helo_name
    if not _HOSTNAME.fullmatch(helo_name):
        raise ConfigError(f"BACKUP_NOTIFY_SMTP_HELO: {helo_name!r} is not a host name")
    return EmailChannel(
        host=host,
        sender=_address("BACKUP_NOTIFY_SMTP_FROM", sender),
        recipients=recipients,
        port=_number(env, "BACKUP_NOTIFY_SMTP_PORT", EmailChannel.port, 1, 65535),
        starttls=starttls,
        username=username,
        password_file=password_file,
        helo_name=helo_name,
    )


def _webhook(env: Mapping[str, str], production: bool) -> WebhookChannel | None:
    secret_file = _secret_path(env, "BACKUP_NOTIFY_WEBHOOK_SECRET_FILE")
    url = _text(env, "BACKUP_NOTIFY_WEBHOOK_URL")
    if url is None:
        if secret_file is not None:
            raise ConfigError("BACKUP_NOTIFY_WEBHOOK_SECRET_FILE without _WEBHOOK_URL")
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ConfigError("BACKUP_NOTIFY_WEBHOOK_URL is not a valid URL") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError("BACKUP_NOTIFY_WEBHOOK_URL must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        # Every process reads the URL: a credential belongs in the secret file.
        raise ConfigError("BACKUP_NOTIFY_WEBHOOK_URL must not carry a user or password")
    if parts.fragment or any(ch.isspace() for ch in url):
        raise ConfigError("BACKUP_NOTIFY_WEBHOOK_URL must have no fragment or spaces")
    if parts.scheme == "http" and not is_loopback(host):
        allow_http = _flag(env, "BACKUP_NOTIFY_WEBHOOK_ALLOW_HTTP", False)
        if not allow_http or production:
            raise ConfigError(
                "BACKUP_NOTIFY_WEBHOOK_URL must be https:// (http only to 127.0.0.1, or "
                "with BACKUP_NOTIFY_WEBHOOK_ALLOW_HTTP=1 outside production)"
            )
    return WebhookChannel(url=url, secret_file=secret_file)


def load_notify_config(env: Mapping[str, str], production: bool) -> NotifyConfig:
    low = MIN_PRODUCTION_INTERVAL_SECONDS if production else 1
    return NotifyConfig(
        email=_email(env),
        webhook=_webhook(env, production),
        interval_seconds=_number(
            env, "BACKUP_NOTIFY_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS, low, 86400
        ),
    )
