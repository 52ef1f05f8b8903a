"""The notification channels' configuration: what is accepted, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.config import load_config
from vault.errors import ConfigError
from vault.notify_config import EMAIL, WEBHOOK, load_notify_config

MAIL = {
    "BACKUP_NOTIFY_SMTP_HOST": "relay.example.org",
    "BACKUP_NOTIFY_SMTP_FROM": "backup@example.org",
    "BACKUP_NOTIFY_EMAIL_TO": "care-a@example.org, care-b@example.org",
}


class TestAccepted:
    def test_nothing_configured_means_no_channel(self) -> None:
        notify = load_notify_config({}, production=True)
        assert notify.channels == ()
        assert notify.interval_seconds == 60

    def test_mail_with_defaults(self) -> None:
        notify = load_notify_config(MAIL, production=True)
        assert notify.channels == (EMAIL,)
        assert notify.email is not None
        assert notify.email.recipients == ("care-a@example.org", "care-b@example.org")
        assert (notify.email.port, notify.email.starttls) == (587, True)
        assert notify.email.helo_name == "localhost"

    def test_mail_login_and_webhook(self) -> None:
        env = {
            **MAIL,
            "BACKUP_NOTIFY_SMTP_PORT": "2525",
            "BACKUP_NOTIFY_SMTP_USERNAME": "backup",
            "BACKUP_NOTIFY_SMTP_PASSWORD_FILE": "/run/credentials/w/notify-smtp-password",
            "BACKUP_NOTIFY_WEBHOOK_URL": "https://hooks.example.org/care?team=1",
            "BACKUP_NOTIFY_WEBHOOK_SECRET_FILE": "/run/credentials/w/notify-webhook-secret",
            "BACKUP_NOTIFY_INTERVAL_SECONDS": "900",
        }
        notify = load_notify_config(env, production=True)
        assert notify.channels == (EMAIL, WEBHOOK)
        assert notify.email is not None and notify.webhook is not None
        assert notify.email.password_file == Path("/run/credentials/w/notify-smtp-password")
        assert notify.webhook.secret_file == Path("/run/credentials/w/notify-webhook-secret")
        assert notify.interval_seconds == 900

    @pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hook", "http://[::1]/hook"])
    def test_plain_http_to_this_machine(self, url: str) -> None:
        notify = load_notify_config({"BACKUP_NOTIFY_WEBHOOK_URL": url}, production=True)
        assert notify.webhook is not None and notify.webhook.url == url

    def test_plain_http_elsewhere_with_the_development_flag(self) -> None:
        env = {
            "BACKUP_NOTIFY_WEBHOOK_URL": "http://receiver.lan/hook",
            "BACKUP_NOTIFY_WEBHOOK_ALLOW_HTTP": "1",
        }
        assert load_notify_config(env, production=False).webhook is not None

    def test_load_config_carries_it(self, tmp_path: Path) -> None:
        config = load_config({"BACKUP_INSTANCE_DIR": str(tmp_path), **MAIL})
        assert config.notify.channels == (EMAIL,)


REFUSED = [
    ({"BACKUP_NOTIFY_EMAIL_TO": "a@example.org"}, "SMTP_HOST"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_FROM": ""}, "SMTP_FROM"),
    ({**MAIL, "BACKUP_NOTIFY_EMAIL_TO": " , "}, "names no address"),
    ({**MAIL, "BACKUP_NOTIFY_EMAIL_TO": "Care <care@example.org>"}, "bare e-mail"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_FROM": "a@example.org\r\nBcc: x@evil.example"}, "bare e-mail"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_HOST": "relay example"}, "host name"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_PORT": "70000"}, "between 1 and 65535"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_PORT": "smtp"}, "integer"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_STARTTLS": "maybe"}, "boolean"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_USERNAME": "backup"}, "go together"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_PASSWORD_FILE": "/etc/pw"}, "go together"),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_PASSWORD": "hunter2hunter2"}, "put the secret in a file"),
    (
        {
            **MAIL,
            "BACKUP_NOTIFY_SMTP_USERNAME": "backup",
            "BACKUP_NOTIFY_SMTP_PASSWORD_FILE": "relative/pw",
        },
        "absolute path",
    ),
    (
        {
            **MAIL,
            "BACKUP_NOTIFY_SMTP_STARTTLS": "0",
            "BACKUP_NOTIFY_SMTP_USERNAME": "backup",
            "BACKUP_NOTIFY_SMTP_PASSWORD_FILE": "/etc/pw",
        },
        "in clear",
    ),
    ({**MAIL, "BACKUP_NOTIFY_SMTP_HELO": "my host"}, "host name"),
    ({"BACKUP_NOTIFY_WEBHOOK_URL": "http://hooks.example.org/x"}, "https://"),
    ({"BACKUP_NOTIFY_WEBHOOK_URL": "ftp://hooks.example.org/x"}, "https://"),
    ({"BACKUP_NOTIFY_WEBHOOK_URL": "https:///no-host"}, "https://"),
    ({"BACKUP_NOTIFY_WEBHOOK_URL": "https://u:p@hooks.example.org/x"}, "user or password"),
    ({"BACKUP_NOTIFY_WEBHOOK_URL": "https://hooks.example.org:99999/x"}, "valid URL"),
    ({"BACKUP_NOTIFY_WEBHOOK_URL": "https://hooks.example.org/x#f"}, "fragment"),
    ({"BACKUP_NOTIFY_WEBHOOK_SECRET": "s3cr3t-s3cr3t"}, "put the secret in a file"),
    ({"BACKUP_NOTIFY_WEBHOOK_SECRET_FILE": "/etc/s"}, "without _WEBHOOK_URL"),
    (
        {
            "BACKUP_NOTIFY_WEBHOOK_URL": "http://receiver.lan/hook",
            "BACKUP_NOTIFY_WEBHOOK_ALLOW_HTTP": "1",
        },
        "https://",
    ),
    ({"BACKUP_NOTIFY_INTERVAL_SECONDS": "30"}, "between 60 and 86400"),
    ({"BACKUP_NOTIFY_INTERVAL_SECONDS": "-1"}, "between 60 and 86400"),
]


class TestRefused:
    @pytest.mark.parametrize(("env", "says"), REFUSED)
    def test_bad_values_are_refused_in_production(self, env: dict[str, str], says: str) -> None:
        with pytest.raises(ConfigError, match=says):
            load_notify_config(env, production=True)

    def test_short_interval_only_outside_production(self) -> None:
        env = {"BACKUP_NOTIFY_INTERVAL_SECONDS": "2"}
        assert load_notify_config(env, production=False).interval_seconds == 2

    def test_load_config_refuses_too(self, tmp_path: Path) -> None:
        env = {"BACKUP_INSTANCE_DIR": str(tmp_path), "BACKUP_NOTIFY_WEBHOOK_URL": "x"}
        with pytest.raises(ConfigError):
            load_config(env)
