"""Federation's deployment, rendered from the roles' own templates and defaults (fast: no
target system): off by default; on, the endpoint as its own user behind a
client-authorized onion service, the timers that send and prune, the environment, the
torrc and the users backupctl runs federation commands as (docs/deploy.md)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import yaml

from federation.config import load_federation_config
from tests.ansible.conftest import ANSIBLE_DIR

ROLES = ANSIBLE_DIR / "roles"
BACKUPCTL = "/opt/backup/current/venv/bin/backupctl"


def _defaults() -> dict[str, Any]:
    loaded = yaml.safe_load((ROLES / "backup/defaults/main.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _values(**extra: Any) -> dict[str, Any]:
    return {
        **_defaults(),
        "ansible_managed": "managed",
        "backup_database": "sqlite",
        "redis_backup_url": "unix:///run/redis/redis-server.sock?db=0",
        **extra,
    }


def _render(role: str, template: str, **extra: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLES / role / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701  (systemd units and shell, not HTML)
        trim_blocks=True,  # as Ansible's template module renders
    )
    return env.get_template(f"{template}.j2").render(**_values(**extra))


def _directives(text: str, name: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{name}=")]


def _filters() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "backup_filters", ANSIBLE_DIR / "filter_plugins" / "backup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_federation_is_off_by_default_and_then_leaves_no_trace() -> None:
    defaults = _defaults()
    assert defaults["backup_federation"] is False
    env = _render("app", "backup.env")
    assert "BACKUP_FEDERATION" not in env
    units = yaml.safe_load((ROLES / "services/vars/main.yml").read_text())
    templates = (ROLES / "services/templates").glob("backup-federation*")
    assert set(units["services_federation_units"]) == {
        p.name.removesuffix(".j2") for p in templates
    }
    # Every service the list starts is in the list laid down (and removed when off).
    assert set(units["services_federation_started"]) <= set(units["services_federation_units"])


def test_the_endpoint_runs_as_its_own_user_with_only_the_groups_it_needs() -> None:
    unit = _render("services", "backup-federation.service")
    assert _directives(unit, "ExecStart") == [f"{BACKUPCTL} serve federation --bind 127.0.0.1:8082"]
    assert _directives(unit, "User") == ["backup-federation"]
    assert _directives(unit, "Group") == ["backup-data"]
    # Receipts of the cases it takes in; the directory key; Redis from the sandbox. Not
    # tor's group: it sends nothing. No secrets file.
    groups = " ".join(_directives(unit, "SupplementaryGroups")).split()
    assert sorted(groups) == ["backup-directory", "backup-receipts", "redis"]
    assert not _directives(unit, "LoadCredential")
    assert _directives(unit, "IPAddressAllow") == ["localhost"]


def test_the_timers_send_publish_and_prune_as_backupctl_would() -> None:
    send = _render("services", "backup-federation-send.service")
    assert _directives(send, "ExecStart") == [
        f"-{BACKUPCTL} federation send-messages --wait 0",
        f"-{BACKUPCTL} federation send-psi --wait 0",
    ]
    publish = _render("services", "backup-federation-directory.service")
    assert _directives(publish, "ExecStart") == [
        f"{BACKUPCTL} federation send-directory --all --wait 0",
        f"{BACKUPCTL} federation send-readers --all --wait 0",
    ]
    for unit in (send, publish):
        # As `backupctl federation` runs (the federation private keys are that user's),
        # out through tor's unix SOCKS socket only.
        assert _directives(unit, "User") == ["backup-journalist"]
        assert "debian-tor" in " ".join(_directives(unit, "SupplementaryGroups")).split()
        assert _directives(unit, "IPAddressDeny") == ["any"]
    prune = _render("services", "backup-federation-prune.service")
    assert _directives(prune, "ExecStart") == [f"{BACKUPCTL} federation prune"]
    assert _directives(prune, "User") == ["backup-worker"]
    assert "debian-tor" not in " ".join(_directives(prune, "SupplementaryGroups"))
    calendars = {
        timer: _directives(_render("services", f"backup-federation-{timer}.timer"), "OnCalendar")
        for timer in ("send", "directory", "prune")
    }
    assert calendars == {"send": ["*:0/5"], "directory": ["hourly"], "prune": ["daily"]}


def test_on_the_environment_reaches_tor_s_socket_and_the_torrc_opens_the_service() -> None:
    env = _render("app", "backup.env", backup_federation=True)
    lines = dict(line.split("=", 1) for line in env.splitlines() if line.startswith("BACKUP_"))
    config = load_federation_config({**lines, "BACKUP_INSTANCE_DIR": "/var/lib/backup"})
    assert config.socks == ("unix:/run/tor/socks", 0)
    assert config.port == 8082
    # What the tor role hands the filter when federation is on (roles/tor/tasks).
    torrc = _filters().backup_server_torrc(
        {
            "services_dir": "/var/lib/tor/backup",
            "client_socket": "/run/tor/socks",
            "federation_target": "127.0.0.1:8082",
            "client_auth_dir": "/var/lib/tor/backup/federation_clients",
        }
    )
    assert "HiddenServiceDir /var/lib/tor/backup/federation" in torrc
    assert "ClientOnionAuthDir /var/lib/tor/backup/federation_clients" in torrc
    assert "SocksPort unix:/run/tor/socks GroupWritable RelaxDirModeCheck" in torrc
    # The clients directory is where backupctl puts peers' keys (federation.config).
    assert config.client_auth_dir == Path("/var/lib/tor/backup/federation_clients")
    tor_vars = (ROLES / "tor/vars/main.yml").read_text()
    assert "['federation'] if backup_federation | bool" in tor_vars


def test_backupctl_runs_federation_commands_as_the_user_each_needs(tmp_path: Path) -> None:
    """The wrapper's choice, run for real by sh with `runuser` and backupctl stubbed."""
    script = _render("app", "backupctl.sh", backup_federation=True, backup_config_dir=str(tmp_path))
    (tmp_path / "backup.env").write_text("")
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "runuser").write_text('#!/bin/sh\necho "as $2 $*"\n')
    (stub / "runuser").chmod(0o755)
    (stub / "id").write_text('#!/bin/sh\necho "backup-data redis backup-receipts"\n')
    (stub / "id").chmod(0o755)
    script = script.replace(BACKUPCTL, "echo as-root")
    script = script.replace("/usr/local/sbin/backup-modes", "true")
    wrapper = tmp_path / "backupctl"
    wrapper.write_text(script)

    def run(*args: str) -> str:
        return subprocess.run(
            ["/bin/sh", str(wrapper), *args],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": f"{stub}:/usr/bin:/bin"},
        ).stdout

    def user_for(*args: str) -> str:
        out = run(*args)
        return out.split()[1] if out.startswith("as ") else "root"

    assert user_for("federation", "peer", "add", "--name", "x") == "root"
    assert user_for("federation", "identity", "--create") == "root"
    assert user_for("serve", "federation") == "backup-federation"
    for command in ("send-psi", "psi-inbox", "psi-queue", "send-directory", "transfer"):
        assert user_for("federation", command) == "backup-journalist"
    # Those that send reach tor's socket (its group beside the user's own); others not.
    sending = run("federation", "send-release", "X", "--to", "obs")
    assert "-g backup-data -G backup-data -G redis -G backup-receipts -G debian-tor --" in sending
    assert "debian-tor" not in run("federation", "psi-inbox", "--out", "d")
    assert "debian-tor" not in run("admin", "list")
