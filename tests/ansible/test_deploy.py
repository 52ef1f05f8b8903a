"""A real apply of ansible/site.yml into a Debian 12 debootstrap tree, then checks.

Everything is read from the resulting tree: users, modes, units, torrc, Redis, firewall,
the database, and the absence of any secret key. The second apply must change nothing.
Services do not run in a chroot (`backup_start_services: false`); where a check can run
a real binary of the target (tor, nft, backupctl) it does, inside the chroot.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from alembic.script import ScriptDirectory

from keys.gpg import kill_agent
from onion.torrc import ServerTorrc, render_server_torrc
from tests.ansible.conftest import (
    FIRST_ADMIN,
    RETENTION_DAYS,
    RUNTIME_TASKS,
    SERVICE_USERS,
    SSH_FROM,
    Deployed,
    guarded_tasks,
    task_outputs,
)
from vault.migrate import MIGRATIONS_DIR

# A cold run builds the Debian tree (~1 min) and the wheelhouse; a warm one copies them.
pytestmark = pytest.mark.timeout(1800)

APP_UNITS = ("backup-source.service", "backup-journalist.service", "backup-worker.service")
SANDBOX = (
    "Group=backup-data",
    "SupplementaryGroups=redis",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ReadWritePaths=/var/lib/backup",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectHome=yes",
    "ProtectKernelTunables=yes",
    "CapabilityBoundingSet=",
    "IPAddressDeny=any",
    "IPAddressAllow=localhost",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources",
    "UMask=0007",
)
# Who runs each unit (docs/deploy.md, "One user per process"), and the groups it gets
# beside redis: the receipt key's for the apps, the notification secrets' for the worker,
# tor's socket for the trusted-time job.
UNIT_USERS = {
    "backup-source.service": ("backup-source", ["backup-receipts"]),
    "backup-journalist.service": ("backup-journalist", ["backup-receipts"]),
    "backup-worker.service": ("backup-worker", ["backup-notify"]),
    "backup-sweep.service": ("backup-worker", []),
    "backup-retention.service": ("backup-worker", []),
    "backup-care-escalate.service": ("backup-worker", []),
}
# The instance directory: (owner, group, mode) of each place.
INSTANCE_LAYOUT = {
    "": ("root", "backup-data", 0o750),
    "store": ("root", "backup-data", 0o2770),
    "db": ("root", "backup-data", 0o2770),
    "db/backup.sqlite": (None, "backup-data", 0o660),
    "gnupg": ("root", "backup-data", 0o750),
    "gnupg/source": ("backup-source", "backup-data", 0o700),
    "gnupg/journalist": ("backup-journalist", "backup-data", 0o700),
    "gnupg/worker": ("backup-worker", "backup-data", 0o700),
    "gnupg/journalist/pubring.kbx": ("backup-journalist", "backup-data", None),
    "gnupg/source/pubring.kbx": ("backup-source", "backup-data", None),
    "column.key": ("backup-journalist", "backup-data", 0o600),
    "receipt_key.pem": ("root", "backup-receipts", 0o640),
    "submission_key.fpr": ("root", "backup-data", 0o640),
    "guide": ("backup-journalist", "backup-data", 0o700),
    "log": ("root", "root", 0o700),
    "run": ("root", "root", 0o700),
}


def _passwd(deployed: Deployed, name: str) -> list[str]:
    for line in deployed.path("/etc/passwd").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":")
    raise AssertionError(f"no user {name}")


def _gid(deployed: Deployed, name: str) -> int:
    for line in deployed.path("/etc/group").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split(":")[2])
    raise AssertionError(f"no group {name}")


def _members(deployed: Deployed) -> dict[str, list[str]]:
    return {
        fields[0]: fields[3].split(",")
        for fields in (
            line.split(":") for line in deployed.path("/etc/group").read_text().splitlines()
        )
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _in_chroot(deployed: Deployed, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(deployed.root), *argv],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )


def _env_file(deployed: Deployed) -> dict[str, str]:
    text = deployed.path("/etc/backup/backup.env").read_text()
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


class TestApply:
    """The playbook applies cleanly and converges."""

    def test_first_apply_changes_the_target(self, deployed: Deployed) -> None:
        assert deployed.first.failed == 0
        assert deployed.first.changed > 0

    def test_second_apply_changes_nothing(self, deployed: Deployed) -> None:
        blocks = re.split(r"^(?:TASK|RUNNING HANDLER) ", deployed.second.output, flags=re.M)
        changed = [block.splitlines()[0] for block in blocks if "\nchanged: " in block]
        assert deployed.second.changed == 0, changed

    def test_one_documented_switch_skips_running_services(self, deployed: Deployed) -> None:
        """Not silently: the runtime tasks, and only they, are skipped for the switch,
        each saying so; every other skip in the run states its own reason."""
        assert guarded_tasks() == set(RUNTIME_TASKS)
        tasks = task_outputs(deployed.first.output)
        for name in RUNTIME_TASKS:
            assert name in tasks, f"{name} is not in the run"
            [block] = tasks[name]
            assert "skipping: [debian12]" in block and "ok: [" not in block, (name, block)
            assert "changed: [" not in block, (name, block)
            # The postgresql role as a whole is for backup_database: postgresql only.
            condition = (
                "backup_database == 'postgresql'"
                if name.startswith("postgresql : ")
                else "backup_start_services | bool"
            )
            assert f'"false_condition": "{condition}"' in block, (name, block)
        for name, blocks in tasks.items():
            for block in blocks:
                skips = [line for line in block.splitlines() if line.startswith("skipping: [")]
                for line in skips:
                    # -v prints each result: the condition that was false, or why there
                    # was nothing to do (an empty loop, handlers not flushed). A loop's
                    # summary line stands on its items' conditions.
                    stated = any(
                        f'"{key}"' in line
                        for key in ("false_condition", "skipped_reason", "skip_reason")
                    )
                    # A no_log task's result is hidden whole, its reason with it.
                    stated |= "'no_log: true' was specified for this result" in line
                    summary = '"All items skipped"' in line and any(
                        "false_condition" in item for item in skips
                    )
                    assert stated or summary, (name, line)


class TestUsersAndFiles:
    """System users, the instance directory and the configuration's permissions."""

    @pytest.mark.parametrize("user", sorted(SERVICE_USERS.values()))
    def test_service_users_cannot_log_in(self, deployed: Deployed, user: str) -> None:
        entry = _passwd(deployed, user)
        assert int(entry[2]) < 1000
        assert entry[1] == "x" and entry[6] == "/usr/sbin/nologin"
        assert int(entry[3]) == _gid(deployed, "backup-data")
        members = _members(deployed)
        assert user in members["redis"]  # the Redis socket (backupctl runs as them too)
        # The receipt key: the apps only, not the worker.
        assert (user in members["backup-receipts"]) == (user != "backup-worker")
        assert user not in members.get("backup-notify", [])  # the worker's unit only

    @pytest.mark.parametrize("sub", sorted(INSTANCE_LAYOUT))
    def test_instance_layout_one_user_per_process(self, deployed: Deployed, sub: str) -> None:
        """Shared through the group: the store and the database (set-group-ID); each
        GnuPG home its user's alone; the column key the reviewer side's; the receipt key
        readable by its group (the apps'); nothing for others anywhere."""
        owner, group, mode = INSTANCE_LAYOUT[sub]
        path = deployed.path(f"/var/lib/backup/{sub}".rstrip("/"))
        if owner is not None:
            assert path.stat().st_uid == int(_passwd(deployed, owner)[2]), sub
        assert path.stat().st_gid == _gid(deployed, group), sub
        if mode is not None:
            assert stat.S_IMODE(path.stat().st_mode) == mode, oct(path.stat().st_mode)
        assert not path.stat().st_mode & 0o007

    def test_nothing_in_the_instance_for_others(self, deployed: Deployed) -> None:
        root = deployed.path("/var/lib/backup")
        loose = [
            str(path)
            for path in root.rglob("*")
            if not path.is_symlink() and not path.is_socket() and path.lstat().st_mode & 0o007
        ]
        assert loose == []

    def test_secrets_and_environment_are_not_world_readable(self, deployed: Deployed) -> None:
        # Each app's secrets, root-only at rest: systemd hands each unit its own file.
        secrets_dir = deployed.path("/etc/backup/secrets")
        assert _mode(secrets_dir) == 0o700 and secrets_dir.stat().st_uid == 0
        assert sorted(p.name for p in secrets_dir.iterdir()) == ["journalist.json", "source.json"]
        for path in secrets_dir.iterdir():
            assert _mode(path) == 0o600 and path.stat().st_uid == 0
        # The CLI (run during the deployment) made none in the instance.
        assert not deployed.path("/var/lib/backup/secrets.json").exists()
        assert not deployed.path("/var/lib/backup/secrets").exists()
        env = deployed.path("/etc/backup/backup.env")
        assert _mode(env) == 0o640
        assert env.stat().st_uid == 0 and env.stat().st_gid == _gid(deployed, "backup-data")
        assert _mode(deployed.path("/etc/backup")) == 0o750

    def test_code_belongs_to_root(self, deployed: Deployed) -> None:
        current = deployed.path("/opt/backup/current")
        assert current.is_symlink()
        release = deployed.path(str(current.readlink()))
        for path in (release, release / "src", release / "venv", release / "src/vault"):
            assert path.stat().st_uid == 0
            assert not _mode(path) & 0o022

    def test_production_environment(self, deployed: Deployed) -> None:
        env = _env_file(deployed)
        assert env["BACKUP_PRODUCTION"] == "1"
        assert env["BACKUP_INSTANCE_DIR"] == "/var/lib/backup"
        assert env["REDIS_URL"].startswith("unix://:")
        assert env["REDIS_URL"].endswith("@/run/redis/redis-server.sock?db=0")
        # SQLite in a directory of its own in the instance, the service users' group's.
        assert env["DATABASE_URL"] == "sqlite:////var/lib/backup/db/backup.sqlite"
        assert env["BACKUP_DISK_RESERVE_MIB"] == "1024"
        assert env["BACKUP_SOURCE_QUOTA_MIB"] == "1000"
        assert "BACKUP_DISK_WATCH" not in env  # the database is in the instance directory

    def test_only_runtime_packages_in_the_venv(self, deployed: Deployed) -> None:
        site = next(deployed.path("/opt/backup/current/venv/lib").glob("python3*/site-packages"))
        names = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
        assert {"flask", "gunicorn", "rq", "alembic", "backup_dropbox"} <= names
        assert not names & {"ansible_core", "playwright", "pytest", "mypy", "ruff"}


class TestApplication:
    """The code, venv, schema and inputs, checked with the target's own binaries."""

    def test_migrations_reached_head(self, deployed: Deployed) -> None:
        head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
        with sqlite3.connect(deployed.path("/var/lib/backup/db/backup.sqlite")) as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]

    def test_first_admin_created_once(self, deployed: Deployed) -> None:
        with sqlite3.connect(deployed.path("/var/lib/backup/db/backup.sqlite")) as db:
            rows = db.execute("SELECT username, role FROM reviewers").fetchall()
        assert [(name, role.lower()) for name, role in rows] == [(FIRST_ADMIN, "admin")]
        handover = deployed.path("/root/backup-first-admin.txt")
        assert _mode(handover) == 0o600 and handover.stat().st_uid == 0
        assert FIRST_ADMIN in handover.read_text()
        # The passphrase never reached Ansible's output.
        assert "Passphrase" not in deployed.first.output

    def test_backupctl_runs_in_the_target(self, deployed: Deployed) -> None:
        shown = _in_chroot(deployed, "/usr/local/sbin/backupctl", "keys", "show")
        assert shown.returncode == 0, shown.stderr
        grouped = " ".join(re.findall(".{4}", deployed.submission_fingerprint))
        assert grouped in shown.stdout
        for app in ("source_app", "journalist_app"):
            probe = _in_chroot(
                deployed, "/opt/backup/current/venv/bin/python", "-c", f"import {app}"
            )
            assert probe.returncode == 0, probe.stderr


class TestNoSecretKey:
    """The server holds the submission key's public half only."""

    @staticmethod
    def _listed(deployed: Deployed, tmp_path: Path, side: str, *options: str) -> list[list[str]]:
        home = tmp_path / side  # a copy: gpg writes to the home it reads
        shutil.copytree(  # without the agent's sockets
            deployed.path(f"/var/lib/backup/gnupg/{side}"),
            home,
            ignore=shutil.ignore_patterns("S.*"),
        )
        try:
            # Public halves live in immutable key files (keys/keyfiles.py), not in the
            # home's keyring: gathered into the copy's keyring to list them with gpg.
            for key_file in sorted((home / "public").glob("*.gpg")):
                subprocess.run(
                    ["gpg", "--homedir", str(home), "--batch", "--import", str(key_file)],
                    capture_output=True,
                    check=True,
                )
            listed = subprocess.run(
                ["gpg", "--homedir", str(home), "--batch", "--with-colons", *options],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
        finally:
            kill_agent(home)
        return [line.split(":") for line in listed]

    def test_server_keyring_holds_account_keys_only(
        self, deployed: Deployed, tmp_path: Path
    ) -> None:
        """The reviewer interface's home: its only secret keys are reviewer account keys
        (the first admin's, made at its creation, locked with a passphrase derived from
        the admin's), named by uuid; it holds the submission public key."""
        fields = self._listed(deployed, tmp_path, "journalist", "--list-secret-keys")
        secret = [f[9] for f in fields if f[0] == "fpr"]
        names = [f[9] for f in fields if f[0] == "uid"]
        assert deployed.submission_fingerprint not in secret
        assert len(names) == 1, names  # the first admin's account key, nothing else
        assert re.fullmatch(r"BackUp account [0-9a-f-]{36}", names[0]), names

    @pytest.mark.parametrize("side", ["source", "journalist"])
    def test_each_sealing_home_holds_the_submission_public_key(
        self, deployed: Deployed, tmp_path: Path, side: str
    ) -> None:
        fields = self._listed(deployed, tmp_path, side, "--list-keys")
        assert deployed.submission_fingerprint in [f[9] for f in fields if f[0] == "fpr"]

    @pytest.mark.parametrize("side", ["source", "worker"])
    def test_no_account_key_outside_the_reviewer_home(
        self, deployed: Deployed, tmp_path: Path, side: str
    ) -> None:
        """No source yet: the source interface's and the worker's homes hold no secret."""
        assert self._listed(deployed, tmp_path, side, "--list-secret-keys") == []

    def test_no_secret_key_anywhere(self, deployed: Deployed) -> None:
        names = {f"{grip}.key" for grip in deployed.secret_keygrips}
        assert names
        found = [path for path in deployed.root.rglob("*.key") if path.name in names]
        assert found == []
        places = ["etc", "var", "root", "srv", "home", "tmp", "opt/backup/current/src"]
        grep = subprocess.run(
            ["grep", "-rlI", "PGP PRIVATE KEY BLOCK", *(str(deployed.root / p) for p in places)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert grep.stdout == ""

    def test_public_key_loaded(self, deployed: Deployed) -> None:
        loaded = deployed.path("/var/lib/backup/submission_key.fpr").read_text().strip()
        assert loaded == deployed.submission_fingerprint


class TestUnits:
    """Gunicorn on 127.0.0.1, the worker, the sweep and retention timers, sandboxed and
    enabled."""

    @pytest.mark.parametrize(
        "unit",
        [
            *APP_UNITS,
            "backup-sweep.service",
            "backup-retention.service",
            "backup-care-escalate.service",
        ],
    )
    def test_sandboxed(self, deployed: Deployed, unit: str) -> None:
        text = deployed.path(f"/etc/systemd/system/{unit}").read_text()
        for line in SANDBOX:
            assert line in text.splitlines(), f"{unit}: {line}"
        # Nothing of @privileged or @resources is allowed back (setpriority was, for an
        # upload's output thread, until it ran at gpg's priority), and the filter is
        # never reset (an empty assignment).
        allowed = [
            line
            for line in text.splitlines()
            if line.startswith("SystemCallFilter=")
            and line.removeprefix("SystemCallFilter=")[:1] not in ("@", "~")
        ]
        assert allowed == [], f"{unit}: {allowed}"
        assert "EnvironmentFile=/etc/backup/backup.env" in text
        user, groups = UNIT_USERS[unit]
        lines = text.splitlines()
        assert [line for line in lines if line.startswith("User=")] == [f"User={user}"]
        extra = [line for line in lines if line.startswith("SupplementaryGroups=")]
        assert extra == ["SupplementaryGroups=redis"] + [
            f"SupplementaryGroups={group}" for group in groups
        ], unit

    @pytest.mark.parametrize(
        ("unit", "port"), [("backup-source.service", 8080), ("backup-journalist.service", 8081)]
    )
    def test_the_serving_command_on_loopback(
        self, deployed: Deployed, unit: str, port: int
    ) -> None:
        text = deployed.path(f"/etc/systemd/system/{unit}").read_text()
        app = "source" if "source" in unit else "journalist"
        [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
        # The same command as development and the tests: no gunicorn options of its own.
        assert exec_start == (
            f"ExecStart=/opt/backup/current/venv/bin/backupctl serve {app} --bind 127.0.0.1:{port}"
        )

    @pytest.mark.parametrize(
        ("unit", "target"),
        [
            *((unit, "multi-user.target") for unit in APP_UNITS),
            ("backup-sweep.timer", "timers.target"),
            ("backup-retention.timer", "timers.target"),
            ("backup-care-escalate.timer", "timers.target"),
            ("tor.service", "multi-user.target"),
            ("redis-server.service", "multi-user.target"),
            ("nftables.service", "sysinit.target"),
        ],
    )
    def test_enabled(self, deployed: Deployed, unit: str, target: str) -> None:
        assert deployed.path(f"/etc/systemd/system/{target}.wants/{unit}").is_symlink()

    def test_sweep_timer(self, deployed: Deployed) -> None:
        text = deployed.path("/etc/systemd/system/backup-sweep.timer").read_text()
        assert "OnCalendar=" in text
        service = deployed.path("/etc/systemd/system/backup-sweep.service").read_text()
        assert "backupctl sweep" in service

    def test_retention_timer(self, deployed: Deployed) -> None:
        text = deployed.path("/etc/systemd/system/backup-retention.timer").read_text()
        assert "OnCalendar=daily" in text and "Persistent=true" in text
        service = deployed.path("/etc/systemd/system/backup-retention.service").read_text()
        assert f"backupctl retention run --days {RETENTION_DAYS}" in service


class TestTor:
    """The torrc is onion's renderer's, tor accepts it, keys survive."""

    def test_torrc_is_the_renderers(self, deployed: Deployed) -> None:
        expected = render_server_torrc(
            ServerTorrc(
                services_dir=PurePosixPath("/var/lib/tor/backup"), ssh_target="127.0.0.1:22"
            )
        )
        assert deployed.path("/etc/tor/torrc").read_text() == expected
        assert "HiddenServicePoWDefensesEnabled 1" in expected
        # backup_ssh_onion: the admin's SSH as a third, client-authorized service.
        assert "HiddenServiceDir /var/lib/tor/backup/ssh\n" in expected
        assert "HiddenServicePort 22 127.0.0.1:22\n" in expected

    def test_tor_accepts_the_torrc(self, deployed: Deployed) -> None:
        checked = _in_chroot(deployed, "tor", "--verify-config", "-f", "/etc/tor/torrc")
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def test_onion_keys_kept(self, deployed: Deployed) -> None:
        key = deployed.path("/var/lib/tor/backup/source/hs_ed25519_secret_key")
        assert key.read_bytes() == deployed.onion_secret_before
        assert _mode(deployed.path("/var/lib/tor/backup")) == 0o700

    @pytest.mark.parametrize("service", ["journalist", "ssh"])
    def test_client_authorized_services_never_public(
        self, deployed: Deployed, service: str
    ) -> None:
        clients = deployed.path(f"/var/lib/tor/backup/{service}/authorized_clients")
        nobody = clients / "_nobody.auth"
        assert re.fullmatch(r"descriptor:x25519:[A-Z2-7]{52}\n", nobody.read_text())
        assert _mode(nobody) == 0o600 and _mode(clients) == 0o700
        assert nobody.stat().st_uid == int(_passwd(deployed, "debian-tor")[2])

    def test_apps_answer_for_their_onion_only(self, deployed: Deployed) -> None:
        env = _env_file(deployed)
        for name in ("source", "journalist"):
            hostname = deployed.path(f"/var/lib/tor/backup/{name}/hostname").read_text().strip()
            assert env[f"BACKUP_{name.upper()}_ONION_HOST"] == hostname


class TestRedis:
    """A unix socket with a password; no TCP port; nothing persisted."""

    def test_unix_socket_only(self, deployed: Deployed) -> None:
        conf = deployed.path("/etc/redis/redis.conf").read_text().splitlines()
        assert "port 0" in conf
        assert "unixsocket /run/redis/redis-server.sock" in conf
        assert "unixsocketperm 770" in conf
        assert 'save ""' in conf and "appendonly no" in conf
        # A login's writes always find room: keys with a TTL give way (docs/admin.md).
        assert "maxmemory 256mb" in conf and "maxmemory-policy volatile-lru" in conf
        assert not any(line.startswith("bind") and "0.0.0.0" in line for line in conf)  # noqa: S104

    def test_password(self, deployed: Deployed) -> None:
        auth = deployed.path("/etc/redis/backup-auth.conf")
        assert _mode(auth) == 0o600
        assert auth.stat().st_uid == int(_passwd(deployed, "redis")[2])
        match = re.fullmatch(r"requirepass ([0-9a-f]{64})\n", auth.read_text())
        assert match
        assert _env_file(deployed)["REDIS_URL"] == (
            f"unix://:{match.group(1)}@/run/redis/redis-server.sock?db=0"
        )
        assert (
            "include /etc/redis/backup-auth.conf"
            in deployed.path("/etc/redis/redis.conf").read_text()
        )


class TestHardening:
    """Firewall, updates, logging, swap and core dumps."""

    def test_firewall_default_deny_inbound(self, deployed: Deployed) -> None:
        rules = deployed.path("/etc/nftables.conf").read_text()
        assert re.search(r"hook input priority filter; policy drop;", rules)
        assert re.search(r"hook forward priority filter; policy drop;", rules)
        accepts = [line.strip() for line in rules.splitlines() if line.strip().endswith("accept")]
        tcp = [line for line in accepts if "dport" in line]
        assert tcp == [f"ip saddr {SSH_FROM} tcp dport 22 ct state new accept"]

    def test_firewall_rules_parse(self, deployed: Deployed) -> None:
        checked = _in_chroot(deployed, "nft", "--check", "--file", "/etc/nftables.conf")
        if "Operation not permitted" in checked.stderr:
            pytest.fail("nft --check needs CAP_NET_ADMIN on the host running the tests")
        assert checked.returncode == 0, checked.stderr

    def test_unattended_security_upgrades(self, deployed: Deployed) -> None:
        periodic = deployed.path("/etc/apt/apt.conf.d/20auto-upgrades").read_text()
        assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
        origins = deployed.path("/etc/apt/apt.conf.d/50unattended-upgrades").read_text()
        assert "Debian-Security" in origins
        assert "bookworm-security" in deployed.path("/etc/apt/sources.list").read_text()

    def test_journald_volatile_and_short(self, deployed: Deployed) -> None:
        conf = deployed.path("/etc/systemd/journald.conf.d/50-backup.conf").read_text()
        assert "Storage=volatile" in conf
        assert re.search(r"^MaxRetentionSec=\S+", conf, re.M)
        assert not deployed.path("/usr/sbin/rsyslogd").exists()

    def test_swap_off_and_no_core_dumps(self, deployed: Deployed) -> None:
        masked = deployed.path("/etc/systemd/system/swap.target")
        assert masked.is_symlink() and str(masked.readlink()) == "/dev/null"
        sysctl = deployed.path("/etc/sysctl.d/90-backup.conf").read_text()
        assert "kernel.core_pattern = |/bin/false" in sysctl
        assert "fs.suid_dumpable = 0" in sysctl
        coredump = deployed.path("/etc/systemd/coredump.conf.d/50-backup.conf").read_text()
        assert "Storage=none" in coredump


class TestBackupRestore:
    """backup.yml encrypts to the submission key; restore.yml brings a lost database back."""

    def test_backup_is_encrypted_and_leaves_nothing_behind(self, deployed: Deployed) -> None:
        head = deployed.backup_file.read_bytes()[:64]
        assert b"SQLite" not in head and b"ustar" not in head
        listed = subprocess.run(
            ["gpg", "--list-packets", "--batch", str(deployed.backup_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert ":pubkey enc packet:" in listed.stdout
        assert not list(deployed.path("/var/backups").glob("backup-*"))

    def test_restore_brings_the_database_back(self, deployed: Deployed) -> None:
        assert deployed.restored.failed == 0
        with sqlite3.connect(deployed.path("/var/lib/backup/db/backup.sqlite")) as db:
            rows = db.execute("SELECT username FROM reviewers").fetchall()
        assert rows == [(FIRST_ADMIN,)]
        key = deployed.path("/var/lib/tor/backup/source/hs_ed25519_secret_key")
        assert key.read_bytes() == deployed.onion_secret_before

    def test_site_after_restore_migrates_again(self, deployed: Deployed) -> None:
        assert deployed.reapplied.failed == 0
        assert "Apply the database migrations" in deployed.reapplied.output
        # backup-modes gave the restored files to their users again.
        assert _mode(deployed.path("/var/lib/backup")) == 0o750
        column = deployed.path("/var/lib/backup/column.key")
        assert column.stat().st_uid == int(_passwd(deployed, "backup-journalist")[2])
