"""The apps' systemd units start the serving command, rendered from the role's own
templates and defaults (fast: no target system; test_deploy.py applies the playbook)."""

from __future__ import annotations

import re

import jinja2
import pytest
import yaml

from backupctl.dev.cmd_run import _serve_argv
from tests.ansible.conftest import ANSIBLE_DIR

TEMPLATES = ANSIBLE_DIR / "roles" / "services" / "templates"


def _defaults() -> dict[str, object]:
    loaded = yaml.safe_load((ANSIBLE_DIR / "roles/backup/defaults/main.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _render(unit: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701  (systemd units, not HTML)
        trim_blocks=True,  # as Ansible's template module renders
    )
    values = {**_defaults(), "ansible_managed": "managed", "backup_database": "sqlite"}
    return env.get_template(f"{unit}.j2").render(**values)


_UNIT_LINE = re.compile(r"\[[A-Za-z]+\]|[A-Za-z]+=[^#]*|#.*|")


@pytest.mark.parametrize(
    "unit",
    sorted(p.name.removesuffix(".j2") for p in TEMPLATES.glob("backup-*.j2")),
)
def test_every_unit_line_is_a_section_a_directive_or_a_comment(unit: str) -> None:
    """An include ends without a newline (trim_blocks): a line glued to the next one
    (`WorkingDirectory=/var/lib/backup# comment`) would make systemd refuse the unit."""
    for line in _render(unit).splitlines():
        assert _UNIT_LINE.fullmatch(line), (unit, line)


@pytest.mark.parametrize(("app", "port"), [("source", 8080), ("journalist", 8081)])
def test_unit_runs_the_serving_command_as_development_does(app: str, port: int) -> None:
    text = _render(f"backup-{app}.service")
    [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    command = exec_start.removeprefix("ExecStart=").split()
    assert command[0] == "/opt/backup/current/venv/bin/backupctl"
    # `backupctl run` starts exactly these arguments (after its own interpreter).
    assert command[1:] == _serve_argv(app, port)[3:]
    assert "gunicorn" not in exec_start


def test_no_serving_setting_in_the_playbook() -> None:
    """Workers, threads and timeouts live in web_shared/serving.py only."""
    assert not [name for name in _defaults() if "gunicorn" in name]
    for template in TEMPLATES.glob("*.j2"):
        for option in ("--workers", "--threads", "--timeout", "--worker-class"):
            assert option not in template.read_text(), (template.name, option)


def test_only_the_worker_gets_the_notification_group_and_network() -> None:
    """The care notifications' secrets are readable by their group, which only the
    worker's unit has; only the worker may reach the addresses the admin lists."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701  (systemd units, not HTML)
        trim_blocks=True,  # as Ansible's template module renders
    )
    values = {
        **_defaults(),
        "ansible_managed": "managed",
        "backup_database": "sqlite",
        "backup_notify_allowed_cidrs": ["192.0.2.25/32"],
    }
    worker = env.get_template("backup-worker.service.j2").render(**values).splitlines()
    assert "SupplementaryGroups=backup-notify" in worker
    assert "IPAddressAllow=192.0.2.25/32" in worker
    for app in ("source", "journalist"):
        unit = env.get_template(f"backup-{app}.service.j2").render(**values)
        assert "backup-notify" not in unit and "192.0.2.25" not in unit


def test_care_escalation_runs_every_minute_with_the_apps_environment() -> None:
    timer = _render("backup-care-escalate.timer")
    assert "OnCalendar=*:*:00" in timer and "WantedBy=timers.target" in timer
    service = _render("backup-care-escalate.service")
    assert "ExecStart=/opt/backup/current/venv/bin/backupctl care escalate" in service
    assert "EnvironmentFile=/etc/backup/backup.env" in service
    assert _defaults()["backup_care_escalate_minutes"] == 30


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("backup-source.service", ["source.json:/etc/backup/secrets/source.json"]),
        ("backup-journalist.service", ["journalist.json:/etc/backup/secrets/journalist.json"]),
        ("backup-worker.service", []),
        ("backup-sweep.service", []),
        ("backup-care-escalate.service", []),
        ("backup-retention.service", []),
    ],
)
def test_each_unit_gets_only_its_own_secrets(unit: str, expected: list[str]) -> None:
    """docs/threat-model.md, "Secrets per process": the source app's unit is handed the
    source's secrets file only (no API-token key); the worker and the timers none."""
    lines = _render(unit).splitlines()
    given = [line.removeprefix("LoadCredential=") for line in lines if "Credential" in line]
    assert given == expected
    assert "BACKUP_SECRETS_DIR" not in "\n".join(lines)  # the unit's credentials directory


def test_trusted_time_runs_backupctl_custody_anchor_through_tors_socket() -> None:
    timer = _render("backup-anchor.timer")
    assert "OnCalendar=hourly" in timer and "WantedBy=timers.target" in timer
    service = _render("backup-anchor.service").splitlines()
    assert "ExecStart=/opt/backup/current/venv/bin/backupctl custody anchor" in service
    # Out only through tor's unix SOCKS socket: loopback IP only, tor's group for the socket.
    assert "IPAddressDeny=any" in service and "IPAddressAllow=localhost" in service
    assert "SupplementaryGroups=debian-tor" in service


def test_the_listed_tsas_reach_the_environment_and_tor_gets_their_socket() -> None:
    import importlib.util
    from pathlib import Path

    from vault.tsa_config import load_tsa_config

    spec = importlib.util.spec_from_file_location(
        "backup_filters", ANSIBLE_DIR / "filter_plugins" / "backup.py"
    )
    assert spec is not None and spec.loader is not None
    filters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(filters)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ANSIBLE_DIR / "roles" / "app" / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701  (an environment file, not HTML)
        trim_blocks=True,
    )
    values = {
        **_defaults(),
        "ansible_managed": "managed",
        "backup_database": "sqlite",
        "backup_config_dir": "/etc/backup",
        "redis_backup_url": "unix:///run/redis/redis-server.sock?db=0",
        "backup_tsa_authorities": [
            {"name": "qualified", "url": "http://tsa.example/tsr?x=1&y=2", "certificate": "q.pem"},
            {"name": "second", "url": "https://b.example/", "certificate": "b.pem"},
        ],
    }
    text = env.get_template("backup.env.j2").render(**values)
    lines = dict(line.split("=", 1) for line in text.splitlines() if line.startswith("BACKUP_TSA_"))
    assert lines["BACKUP_TSA_SOCKS"] == "unix:/run/tor/socks"
    urls = lines["BACKUP_TSA_URLS"]
    assert urls.startswith('"') and urls.endswith('"')  # sourced by sh too
    parsed = load_tsa_config(
        {"BACKUP_TSA_URLS": urls.strip('"'), "BACKUP_TSA_SOCKS": lines["BACKUP_TSA_SOCKS"]},
        Path("/var/lib/backup"),
    )
    assert [(e.name, e.url) for e in parsed.authorities] == [
        ("qualified", "http://tsa.example/tsr?x=1&y=2"),
        ("second", "https://b.example/"),
    ]
    assert parsed.socks == ("unix:/run/tor/socks", 0)
    # The tor role hands the filter the socket's path as a string, as here.
    torrc = filters.backup_server_torrc({"client_socket": "/run/tor/socks"}).splitlines()
    assert "SocksPort unix:/run/tor/socks GroupWritable RelaxDirModeCheck" in torrc
    assert "SocksPort 0" in filters.backup_server_torrc({"client_socket": None}).splitlines()


@pytest.mark.parametrize(
    ("unit", "user"),
    [
        ("backup-source.service", "backup-source"),
        ("backup-journalist.service", "backup-journalist"),
        ("backup-worker.service", "backup-worker"),
        ("backup-sweep.service", "backup-worker"),
        ("backup-retention.service", "backup-worker"),
        ("backup-care-escalate.service", "backup-worker"),
        ("backup-anchor.service", "backup-worker"),
    ],
)
def test_each_unit_runs_as_its_own_user(unit: str, user: str) -> None:
    """docs/deploy.md, "One user per process": the apps each as their own user, the worker
    and every timer's job as the worker's; all share the store's group with umask 0007;
    only the apps get the receipt key's group."""
    lines = _render(unit).splitlines()
    assert [line for line in lines if line.startswith("User=")] == [f"User={user}"]
    assert "Group=backup-data" in lines and "UMask=0007" in lines
    groups = {line.removeprefix("SupplementaryGroups=") for line in lines if "Groups=" in line}
    assert ("backup-receipts" in groups) == (user != "backup-worker")


def test_a_cluster_host_reaches_its_database_and_redis_and_no_local_socket() -> None:
    """docs/cluster.md: on a cluster's application host the units reach the database and
    Redis hosts (and loopback) only, and have no Redis socket group (no Redis there);
    on one server they keep the socket group and loopback alone."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701  (systemd units, not HTML)
        trim_blocks=True,
    )
    values = {
        **_defaults(),
        "ansible_managed": "managed",
        "backup_database": "postgresql",
        "backup_redis_server": "db1",
        "backup_service_peers": ["10.0.0.24", "10.0.0.25"],
    }
    for unit in ("backup-source.service", "backup-worker.service", "backup-sweep.service"):
        lines = env.get_template(f"{unit}.j2").render(**values).splitlines()
        allowed = [line for line in lines if line.startswith("IPAddressAllow=")]
        assert allowed == [
            "IPAddressAllow=localhost",
            "IPAddressAllow=10.0.0.24",
            "IPAddressAllow=10.0.0.25",
        ], unit
        assert "SupplementaryGroups=redis" not in lines, unit
        # No Redis server of its own to pull in (one may be installed: not started).
        assert "Wants=redis-server.service" not in lines, unit
    single = _render("backup-source.service").splitlines()
    assert [line for line in single if line.startswith("IPAddressAllow=")] == [
        "IPAddressAllow=localhost"
    ]
    assert "SupplementaryGroups=redis" in single
