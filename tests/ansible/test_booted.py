"""The playbook against a booted Debian 12 target: services start, answer, upgrade.

The chroot test (test_deploy.py) lays the server down without running anything. Here a
copy of the cached tree (PostgreSQL preinstalled) is booted with systemd-nspawn, in a
network namespace of its own, and site.yml runs against the live system with
`backup_start_services: true` and `backup_database: postgresql`: the postgresql role is
applied, migrations run against a real server, units start, the firewall loads. A
source then submits through the deployed source app. A second release (the same code
plus a new migration) is deployed over it: the schema moves to the new head, the apps
restart into the new release and the data stays. A third run changes nothing. Last,
backup.yml, the database dropped, restore.yml and site.yml: the data is back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from keys.gpg import kill_agent
from keys.lifecycle import generate_submission_key
from tests.ansible import booted as boot
from tests.ansible import target
from tests.ansible.conftest import (
    FIRST_ADMIN,
    RETENTION_DAYS,
    RUNTIME_TASKS,
    SSH_FROM,
    STOP_SERVICE_AGENT,
    VENV_BIN,
    Apply,
    ansible_playbook,
    decrypt_backup,
    remove_tree,
    snapshot_source,
    task_outputs,
)
from tests.support.leaks import assert_no_leak
from vault.migrate import MIGRATIONS_DIR

pytestmark = pytest.mark.timeout(1800)

PASSPHRASE = "correct horse battery staple booted"
SOURCE_PORT = 8080
JOURNALIST_PORT = 8081
POSTGRESQL = "postgresql@15-main.service"
UNITS = (
    "backup-source.service",
    "backup-journalist.service",
    "backup-worker.service",
    "backup-sweep.timer",
    "backup-retention.timer",
    "backup-care-escalate.timer",
    "redis-server.service",
    POSTGRESQL,
    "tor@default.service",
    "nftables.service",
    # Federation (docs/federation.md), switched on in this test's inventory.
    "backup-federation.service",
    "backup-federation-send.timer",
    "backup-federation-directory.timer",
    "backup-federation-prune.timer",
)
FEDERATION_PORT = 8082
APPS = ("backup-source.service", "backup-journalist.service", "backup-worker.service")
MARKER = "BOOTED-PLAINTEXT-MARKER-7f3a: the soldiers came to the camp at night"
# A second source: a reviewer replies, the source reads it, the reviewer deletes it.
SECOND_MESSAGE = "a second source, to be answered and then deleted"
REPLY = "BOOTED-REPLY-5c1e: we read you, a counsellor will write tomorrow"
# Who runs each unit (docs/deploy.md, "One user per process").
UNIT_USERS = {
    "backup-source.service": "backup-source",
    "backup-journalist.service": "backup-journalist",
    "backup-worker.service": "backup-worker",
    "backup-sweep.service": "backup-worker",
    "backup-retention.service": "backup-worker",
    "backup-care-escalate.service": "backup-worker",
    "backup-federation.service": "backup-federation",
    "backup-federation-send.service": "backup-journalist",
    "backup-federation-directory.service": "backup-journalist",
    "backup-federation-prune.service": "backup-worker",
}
# Where the deployed server writes: state, logs, Redis's and PostgreSQL's directories
# (data files and WAL), temporary and runtime directories.
LEAK_PLACES = (
    "var/lib/backup",
    "var/log",
    "var/lib/redis",
    "var/lib/postgresql",
    "tmp",
    "var/tmp",
    "run",
    "dev/shm",
    "etc/backup",
)
PROBE_REVISION = "9001"
# systemd's own sockets (PID 1, journald, userdb...): not services of ours.
SYSTEMD_SOCKETS = ("/run/systemd/",)
# The unix sockets that listen, beside systemd's: Redis, PostgreSQL, tor's control port.
EXPECTED_UNIX_LISTENERS = {
    "/run/redis/redis-server.sock",
    "/var/run/postgresql/.s.PGSQL.5432",
    "/run/tor/control",
    "/run/tor/socks",  # federation's way out (tor's group only)
}
# One agent per process's GnuPG home.
GPG_AGENT_SOCKETS = {
    side: {
        f"/var/lib/backup/gnupg/{side}/S.gpg-agent{suffix}"
        for suffix in ("", ".extra", ".browser", ".ssh")
    }
    for side in ("source", "journalist", "worker")
}


def _connects(address: str, port: int) -> bool:
    """A TCP connection from the host (outside the container's network) succeeds."""
    probe = subprocess.run(
        [
            "python3",
            "-c",
            "import socket,sys; s=socket.socket(); s.settimeout(3);"
            "sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))",
            address,
            str(port),
        ],
        check=False,
    )
    return probe.returncode == 0


@dataclass(frozen=True)
class Upgrade:
    apply: Apply
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    current_before: str
    current_after: str


@dataclass(frozen=True)
class Restore:
    backup_file: Path
    archive_members: list[str]
    dump_left_after_backup: bool
    restored: Apply
    reapplied: Apply


@dataclass(frozen=True)
class Answered:
    """The second source: its flow through both apps, then what the worker left."""

    source_uuid: str
    flow: dict[str, object]
    files_before: list[str]
    files_after: list[str]
    rows_after: str


@dataclass(frozen=True)
class Live:
    booted: boot.Booted
    first: Apply
    submitted: dict[str, object]
    answered: Answered
    upgrade: Upgrade
    again: Apply
    restore: Restore
    submission_fingerprint: str

    def psql(self, query: str) -> str:
        return self.booted.run(
            "runuser", "-u", "postgres", "--", "psql", "-d", "backup", "-tA", "-c", query
        ).strip()

    def onion_host(self, service: str) -> str:
        return (self.booted.root / f"var/lib/tor/backup/{service}/hostname").read_text().strip()


def _probe_migration(source: Path) -> str:
    """A real schema change for the second release: a new table after the current head."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    text = f"""\"\"\"upgrade probe (test release)

Revision ID: {PROBE_REVISION}
Revises: {head}
\"\"\"

import sqlalchemy as sa
from alembic import op

revision = "{PROBE_REVISION}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("upgrade_probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrade_probe")
"""
    (source / "vault/migrations/versions/9001_upgrade_probe.py").write_text(text)
    return head


def _submit(live_booted: boot.Booted, host: str, message: str) -> dict[str, object]:
    """A source's whole first visit, through the deployed source app (inside its network)."""
    script = Path(__file__).with_name("submit_flow.py")
    out = live_booted.in_network(
        [
            str(VENV_BIN / "python"),
            str(script),
            "submit",
            f"http://127.0.0.1:{SOURCE_PORT}",
            host,
            message,
        ]
    )
    result: dict[str, object] = json.loads(out)
    return result


def _cat_as(booted: boot.Booted, user: str, path: str) -> str:
    """`cat PATH` as USER: its error (if any), then its exit status as "rc=N"."""
    return booted.run(
        "runuser", "-u", user, "--", "sh", "-c", 'cat -- "$1" 2>&1 > /dev/null; echo "rc=$?"',
        "sh", path,
    )  # fmt: skip


def _psql(booted: boot.Booted, query: str) -> str:
    return booted.run(
        "runuser", "-u", "postgres", "--", "psql", "-d", "backup", "-tA", "-c", query
    ).strip()


def _answer_and_delete(booted: boot.Booted) -> Answered:
    """A second source sends a message; the first admin (handover file) logs in to the
    reviewer app, replies; the source reads the reply; the admin deletes the source, and
    the worker (its own user) shreds its files from the store the source app wrote."""
    source_host = (booted.root / "var/lib/tor/backup/source/hostname").read_text().strip()
    reviewer_host = (booted.root / "var/lib/tor/backup/journalist/hostname").read_text().strip()
    sent = _submit(booted, source_host, SECOND_MESSAGE)
    assert sent["status"] == 302 and sent["codename"], sent
    source_uuid = _psql(
        booted, "SELECT uuid FROM sources ORDER BY created_at DESC, id DESC LIMIT 1"
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", source_uuid), source_uuid
    handover = (booted.root / "root/backup-first-admin.txt").read_text()
    # The line under the heading: diceware words separated by spaces.
    passphrase = handover.split("Passphrase (shown once):", 1)[1].strip().splitlines()[0].strip()
    secret = re.search(r"[?&]secret=([A-Z2-7]+)", handover)
    assert secret, "no TOTP secret in the handover file"
    store = booted.root / "var/lib/backup/store" / source_uuid
    before = sorted(path.name for path in store.iterdir())
    script = Path(__file__).with_name("submit_flow.py")
    flow: dict[str, object] = json.loads(
        booted.in_network(
            [
                str(VENV_BIN / "python"),
                str(script),
                "reply",
                f"http://127.0.0.1:{SOURCE_PORT}",
                source_host,
                f"http://127.0.0.1:{JOURNALIST_PORT}",
                reviewer_host,
                str(sent["codename"]),
                source_uuid,
                FIRST_ADMIN,
                passphrase,
                secret.group(1),
                REPLY,
            ]
        )
    )
    # The deletion is a job of the worker's: wait for it (bounded), then look.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = sorted(path.name for path in store.rglob("*") if path.is_file())
        query = f"SELECT count(*) FROM sources WHERE uuid = '{source_uuid}'"  # noqa: S608  (a uuid, checked above)
        rows = _psql(booted, query)
        if not left and rows == "0":
            break
        time.sleep(1)
    return Answered(source_uuid, flow, before, left, rows)


def _units(booted: boot.Booted) -> dict[str, dict[str, str]]:
    return {name: booted.unit(name) for name in APPS}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    assert os.geteuid() == 0, "the booted-target test needs root (nspawn, netns)"
    work = tmp_path_factory.mktemp("booted")
    root = target.copy_tree(target.cached_tree(extra=target.BOOTED_EXTRA), work / "root")
    wheelhouse = target.cached_wheelhouse(VENV_BIN / "pip")

    home = work / "workstation-gnupg"
    key = generate_submission_key(home, PASSPHRASE, rsa=False)
    kill_agent(home)
    public = work / "submission-public.asc"
    public.write_text(key.public_armored)

    release1 = snapshot_source(work / "release1")
    release2 = snapshot_source(work / "release2")
    _probe_migration(release2)

    booted = boot.boot(root, work / "console.log")
    try:
        inventory = work / "inventory.yml"

        def write_inventory(source: Path) -> None:
            inventory.write_text(
                "all:\n"
                "  hosts:\n"
                "    booted:\n"
                "      ansible_connection: backup_chroot\n"
                f"      ansible_chroot_root: {root}\n"
                f'      ansible_chroot_booted_pid: "{booted.pid}"\n'
                "  vars:\n"
                "    backup_start_services: true\n"
                "    backup_database: postgresql\n"
                f"    backup_submission_public_key: {public}\n"
                f"    backup_first_admin: {FIRST_ADMIN}\n"
                f"    backup_source_dir: {source}\n"
                f"    backup_wheelhouse_archive: {wheelhouse}\n"
                f"    backup_ssh_allowed_cidrs: ['{SSH_FROM}']\n"
                f"    backup_source_port: {SOURCE_PORT}\n"
                f"    backup_journalist_port: {JOURNALIST_PORT}\n"
                f"    backup_retention_days: {RETENTION_DAYS}\n"
                "    backup_ssh_onion: true\n"
                "    backup_federation: true\n"
            )

        def apply(playbook: str = "site.yml", *extra_vars: str, verbose: bool = False) -> Apply:
            """ansible_playbook, with the apps' journal in the message when it fails (a
            unit that would not start says why only there)."""
            try:
                return ansible_playbook(inventory, playbook, *extra_vars, verbose=verbose)
            except AssertionError as failed:
                # PostgreSQL's too: a rerun once failed waiting for it (its journal
                # was not shown).
                units = [arg for name in (*APPS, POSTGRESQL) for arg in ("-u", name)]
                journal = booted.run("journalctl", "--no-pager", "-n", "60", *units, check=False)
                raise AssertionError(f"{failed}\n--- journal of the apps ---\n{journal}") from None

        (work / "ansible-local").mkdir()
        write_inventory(release1)
        first = apply(verbose=True)
        host = (root / "var/lib/tor/backup/source/hostname").read_text().strip()
        submitted = _submit(booted, host, MARKER)
        answered = _answer_and_delete(booted)

        current_before = booted.run("readlink", "/opt/backup/current").strip()
        before = _units(booted)
        write_inventory(release2)
        upgraded = apply()
        upgrade = Upgrade(
            upgraded,
            before,
            _units(booted),
            current_before,
            booted.run("readlink", "/opt/backup/current").strip(),
        )
        again = apply()

        # Backup, then the database lost, restored from the backup, and site.yml again.
        backups = work / "backups"
        apply("backup.yml", f"backup_backup_dir={backups}")
        (backup_file,) = backups.glob("*.tar.gpg")
        left = "backup-db" in booted.run("ls", "-A", "/run")
        archive = decrypt_backup(home, PASSPHRASE, backup_file, work / "backup.tar")
        with tarfile.open(archive) as tar:
            members = tar.getnames()
        booted.run("runuser", "-u", "postgres", "--", "dropdb", "--force", "backup")
        # PostgreSQL's cluster stopped before each of the next two applies: Debian's
        # `postgresql` unit stays active without it, and both must start the cluster.
        booted.run("systemctl", "stop", POSTGRESQL)
        restored = apply("restore.yml", f"backup_restore_archive={archive}")
        booted.run("systemctl", "stop", POSTGRESQL)
        reapplied = apply()
        restore = Restore(backup_file, members, left, restored, reapplied)
        yield Live(booted, first, submitted, answered, upgrade, again, restore, key.fingerprint)
    finally:
        booted.run(*STOP_SERVICE_AGENT, check=False)
        booted.stop()
        remove_tree(root)


class TestRunningServer:
    def test_every_unit_runs_and_none_failed(self, live: Live) -> None:
        for name in UNITS:
            assert live.booted.unit(name)["ActiveState"] == "active", name
        failed = live.booted.run("systemctl", "list-units", "--failed", "--plain", "--no-legend")
        assert failed.strip() == ""

    def test_exactly_these_listen(self, live: Live) -> None:
        """What docs/deploy.md says listens, and nothing else: the two apps on loopback;
        Redis, PostgreSQL and tor's control port on unix sockets; no UDP at all."""
        tcp = live.booted.listening()
        assert tcp == {
            f"127.0.0.1:{SOURCE_PORT}",
            f"127.0.0.1:{JOURNALIST_PORT}",
            f"127.0.0.1:{FEDERATION_PORT}",
        }, tcp
        assert live.booted.udp_bound() == set()
        unix = live.booted.unix_listening()
        ours = {path for path in unix if not path.startswith(SYSTEMD_SOCKETS)}
        # The gpg-agent of each process's GnuPG home (started by the apps, the worker
        # and backupctl): sockets in that home, 0700, its user only.
        agent = set()
        for sockets in GPG_AGENT_SOCKETS.values():
            assert ours & sockets in (set(), sockets), sorted(ours & sockets)
            agent |= ours & sockets
        assert ours - agent == EXPECTED_UNIX_LISTENERS, (
            "\n".join(sorted(unix))
            + "\n"
            + live.booted.run("ls", "-la", "/run/tor", check=False)
            + live.booted.run(
                "journalctl", "--no-pager", "-n", "40", "-u", "tor@default", check=False
            )
        )

    def test_firewall_is_loaded_default_deny(self, live: Live) -> None:
        ruleset = live.booted.run("nft", "list", "ruleset")
        assert re.search(r"hook input priority filter; policy drop;", ruleset)
        assert f"ip saddr {SSH_FROM} tcp dport 22" in ruleset
        # A listener on the container's own address, on the source app's port: what a
        # service bound to every address would be. From the host side of the veth it
        # answers only when the input policy is not drop (the control), else it is not
        # reachable.
        guest = live.booted.network.guest_address
        with live.booted.listener(guest, SOURCE_PORT):
            live.booted.run("nft", "chain inet filter input { policy accept ; }")
            try:
                assert _connects(guest, SOURCE_PORT), "the control probe did not connect"
            finally:
                live.booted.run("nft", "chain inet filter input { policy drop ; }")
            assert not _connects(guest, SOURCE_PORT), "a container port answered from outside"
        ruleset = live.booted.run("nft", "list", "ruleset")
        assert re.search(r"hook input priority filter; policy drop;", ruleset)

    def test_the_runtime_tasks_ran(self, live: Live) -> None:
        """What the chroot test sees skipped (backup_start_services) ran here."""
        tasks = task_outputs(live.first.output)
        for name in RUNTIME_TASKS:
            assert name in tasks, f"{name} is not in the run"
            [block] = tasks[name]
            assert re.search(r"^(ok|changed): \[booted\]", block, re.M), (name, block)
            assert "skipping: [booted]" not in block, (name, block)

    def test_each_unit_sees_only_its_own_secrets(self, live: Live) -> None:
        """docs/threat-model.md, "Secrets per process": in each unit's own mount namespace,
        as the service user, the only secrets file is the unit's own (the source app never
        sees the reviewer app's, which holds the API-token key); the worker sees none; and
        the files at rest are root's alone."""
        expected = {
            "backup-source": ["/run/credentials/backup-source.service/source.json"],
            "backup-journalist": ["/run/credentials/backup-journalist.service/journalist.json"],
            "backup-worker": [],
            "backup-federation": [],
        }
        for unit, files in expected.items():
            pid = live.booted.unit(unit)["MainPID"]
            found = live.booted.run(
                "nsenter", "--target", pid, "--mount", "--",
                "runuser", "-u", UNIT_USERS[f"{unit}.service"], "--",
                "find", "/run/credentials", "/etc/backup", "/var/lib/backup/secrets",
                "-name", "*.json",
                check=False,
            )  # fmt: skip
            assert sorted(found.split()) == files, unit

    def test_each_process_keeps_its_keys_in_its_own_home(self, live: Live) -> None:
        """docs/deploy.md, "Keys per process": the source's reply key (made by the source
        app at the submission) has its secret half in no home at all: it is in the
        database, still locked by the codename and sealed (docs/cluster.md, "Sources'
        reply keys"), borrowed into a throw-away home to open a reply; the first admin's
        account key is in the reviewer app's home only; the worker's home holds none;
        both sealing homes hold the submission public key.

        A home's public halves are key files (`public/<FPR>.gpg`, keys/keyfiles.py) and
        its secret halves the agent's (`private-keys-v1.d/<keygrip>.key`): read as they
        are, never through gpg in the live home, which would write to it."""
        reply = live.psql("SELECT reply_key_fingerprint FROM sources").strip()
        account = live.psql("SELECT fingerprint FROM account_keys").strip()
        homes = "/var/lib/backup/gnupg"
        script = (
            'h=$(mktemp -d) && gpg --homedir "$h" --batch --with-colons --with-keygrip '
            '--show-keys "$1"; rm -rf "$h"'
        )

        def grips(path: str) -> set[str]:
            out = live.booted.run("sh", "-c", script, "sh", path)
            return {row[9] for row in (line.split(":") for line in out.splitlines())
                    if row[0] == "grp"}  # fmt: skip

        def secret_in(side: str, key_grips: set[str]) -> bool:
            found = live.booted.run(
                "sh", "-c", 'for g in "$@"; do test -e "$g" && echo yes; done; true', "sh",
                *(f"{homes}/{side}/private-keys-v1.d/{grip}.key" for grip in sorted(key_grips)),
            )  # fmt: skip
            return "yes" in found

        reply_grips = grips(f"{homes}/source/public/{reply}.gpg")
        account_grips = grips(f"{homes}/journalist/public/{account}.gpg")
        assert reply_grips and account_grips
        assert not secret_in("source", reply_grips) and not secret_in("journalist", reply_grips)
        held = live.psql("SELECT length(reply_secret_key) > 0 FROM sources").strip()
        assert held == "t", held
        assert secret_in("journalist", account_grips) and not secret_in("source", account_grips)
        assert live.booted.run("ls", "-A", f"{homes}/worker/private-keys-v1.d", check=False) == ""
        for side in ("source", "journalist"):
            files = live.booted.run("ls", f"{homes}/{side}/public")
            assert f"{live.submission_fingerprint}.gpg" in files.split(), side

    def test_each_unit_runs_as_its_own_user(self, live: Live) -> None:
        """docs/deploy.md, "One user per process": as systemd runs them."""
        for unit, user in UNIT_USERS.items():
            shown = live.booted.run("systemctl", "show", unit, "-p", "User,Group,UMask")
            assert dict(line.split("=", 1) for line in shown.split()) == {
                "User": user,
                "Group": "backup-data",
                "UMask": "0007",
            }, (unit, shown)
        # The processes themselves (not only the units' settings).
        for unit in (*APPS, "backup-federation.service"):
            pid = live.booted.unit(unit)["MainPID"]
            owner = live.booted.run("stat", "-c", "%U", f"/proc/{pid}").strip()
            assert owner == UNIT_USERS[unit], (unit, owner)

    @pytest.mark.parametrize(
        ("user", "path"),
        [
            # The source app's user: no reviewer-side key, secret or home, nor the worker's.
            ("backup-source", "/var/lib/backup/column.key"),
            ("backup-source", "/etc/backup/secrets/journalist.json"),
            ("backup-source", "/var/lib/backup/gnupg/journalist/pubring.kbx"),
            ("backup-source", "/var/lib/backup/gnupg/worker/gpg-agent.conf"),
            # The worker's: neither app's secrets, homes or the receipt key.
            ("backup-worker", "/var/lib/backup/receipt_key.pem"),
            ("backup-worker", "/var/lib/backup/column.key"),
            ("backup-worker", "/etc/backup/secrets/source.json"),
            # The federation endpoint's: no secrets, no column key, no home, and not the
            # federation private keys (it verifies with the public one).
            ("backup-federation", "/var/lib/backup/column.key"),
            ("backup-federation", "/etc/backup/secrets/journalist.json"),
            ("backup-federation", "/var/lib/backup/gnupg/journalist/pubring.kbx"),
            ("backup-federation", "/var/lib/backup/federation/signing_key.pem"),
            ("backup-federation", "/var/lib/backup/federation/client_auth.key"),
            ("backup-worker", "/var/lib/backup/gnupg/source/pubring.kbx"),
            # The reviewer app's: not the sources' reply keys.
            ("backup-journalist", "/var/lib/backup/gnupg/source/pubring.kbx"),
            ("backup-journalist", "/etc/backup/secrets/source.json"),
        ],
    )
    def test_a_process_user_cannot_read_the_others_files(
        self, live: Live, user: str, path: str
    ) -> None:
        assert (live.booted.root / path.lstrip("/")).exists(), path  # the file is there
        read = _cat_as(live.booted, user, path)
        assert "Permission denied" in read and "rc=1" in read, (user, path, read[-300:])

    @pytest.mark.parametrize(
        ("user", "path"),
        [
            ("backup-source", "/var/lib/backup/receipt_key.pem"),
            ("backup-journalist", "/var/lib/backup/receipt_key.pem"),
            ("backup-journalist", "/var/lib/backup/column.key"),
            ("backup-source", "/var/lib/backup/gnupg/source/pubring.kbx"),
            ("backup-worker", "/var/lib/backup/gnupg/worker/gpg-agent.conf"),
        ],
    )
    def test_a_process_user_reads_what_its_job_needs(
        self, live: Live, user: str, path: str
    ) -> None:
        """The control of the test above: the same command succeeds where it should."""
        assert _cat_as(live.booted, user, path).endswith("rc=0\n"), (user, path)

    def test_apps_answer_only_to_their_onion_host(self, live: Live) -> None:
        source_host = live.onion_host("source")
        journalist_host = live.onion_host("journalist")
        assert re.fullmatch(r"[a-z2-7]{56}\.onion", source_host)
        assert re.fullmatch(r"[a-z2-7]{56}\.onion", journalist_host)
        # The admin's SSH service exists too, locked until `backupctl onion ssh add`.
        assert re.fullmatch(r"[a-z2-7]{56}\.onion", live.onion_host("ssh"))
        locked = live.booted.root / "var/lib/tor/backup/ssh/authorized_clients/_nobody.auth"
        assert locked.is_file()
        status, body = boot.http_get(live.booted, SOURCE_PORT, "/", source_host)
        assert status == 200 and "BackUp" in body
        status, _ = boot.http_get(live.booted, JOURNALIST_PORT, "/login", journalist_host)
        assert status == 200
        # A name that is neither the onion address nor loopback (a DNS-rebinding page).
        status, _ = boot.http_get(live.booted, SOURCE_PORT, "/", "rebind.example")
        assert status == 421
        status, _ = boot.http_get(live.booted, JOURNALIST_PORT, "/login", source_host)
        assert status == 421

    def test_the_federation_endpoint_is_served_behind_a_locked_service(self, live: Live) -> None:
        """docs/federation.md: the endpoint as deployed answers on loopback, POST
        /v1/envelope only; its onion service exists and is closed to everyone until a
        peer is added; the identity was made at deploy."""
        host = live.onion_host("federation")
        assert re.fullmatch(r"[a-z2-7]{56}\.onion", host)
        locked = live.booted.root / "var/lib/tor/backup/federation/authorized_clients"
        assert [path.name for path in locked.iterdir()] == ["_nobody.auth"]
        status, body = boot.http_get(live.booted, FEDERATION_PORT, "/v1/envelope", host)
        assert (status, json.loads(body)) == (405, {"error": "method"})
        status, _ = boot.http_get(live.booted, FEDERATION_PORT, "/", host)
        assert status == 404
        shown = live.booted.run("/usr/local/sbin/backupctl", "federation", "identity")
        fields = dict(line.split(None, 1) for line in shown.splitlines() if line.strip())
        assert fields["onion"].strip() == host, shown
        assert fields["fingerprint"].strip() and fields["client-auth"].strip(), shown

    def test_the_timers_run_their_jobs(self, live: Live) -> None:
        # What the timers would start, started now: each oneshot must succeed as deployed.
        for name in (
            "backup-sweep.service",
            "backup-retention.service",
            "backup-care-escalate.service",
            "backup-federation-send.service",
            "backup-federation-directory.service",
            "backup-federation-prune.service",
        ):
            live.booted.run("systemctl", "start", name)
            shown = live.booted.run("systemctl", "show", name, "-p", "Result,ExecMainStatus")
            assert "Result=success" in shown and "ExecMainStatus=0" in shown, (name, shown)
        applied = live.psql(
            "SELECT count(*) FROM audit_events WHERE action = 'retention_policy_applied'"
            " AND actor_id IS NULL"
        )
        assert int(applied) >= 1
        # The submission of this test is recent: the policy keeps it.
        assert live.psql("SELECT count(*) FROM sources") == "1"

    def test_redis_refuses_without_its_password(self, live: Live) -> None:
        answer = live.booted.run(
            "redis-cli", "-s", "/run/redis/redis-server.sock", "ping", check=False
        )
        assert "NOAUTH" in answer

    def test_postgresql_holds_the_schema_and_the_first_admin(self, live: Live) -> None:
        assert live.psql("SELECT version_num FROM alembic_version") == PROBE_REVISION
        admins = live.psql("SELECT username FROM reviewers WHERE role = 'ADMIN'").split()
        assert admins == [FIRST_ADMIN]
        shown = live.booted.run("runuser", "-u", "postgres", "--", "psql", "-tAc", "SHOW port")
        assert shown.strip() == "5432"

    def test_a_submission_arrives_sealed_and_leaves_no_plaintext(self, live: Live) -> None:
        assert live.submitted["status"] == 302, live.submitted
        assert live.psql("SELECT count(*) FROM submissions") == "1"
        files = sorted(
            path
            for path in (live.booted.root / "var/lib/backup/store").rglob("*")
            if path.is_file()
        )
        # The message, and the source's own consent state beside it (a first submission
        # leaves one, sealed to the source's key: vault.services.source_consent).
        assert [path.name.rsplit("-", 1)[-1] for path in files] == ["consent.gpg", "msg.gpg"]
        for path in files:
            assert path.read_bytes()[:1] in {b"\x84", b"\x85", b"\xc1"}  # OpenPGP PKESK
        # Every place the server writes, as its processes see it (tmpfs /run and /tmp
        # included), its Redis, every field of its journal and a dump of its database.
        dump = live.booted.run("runuser", "-u", "postgres", "--", "pg_dump", "backup")
        assert "COPY public.submissions" in dump
        journal = live.booted.run_bytes("journalctl", "--no-pager", "-o", "export")
        assert b"backup-source.service" in journal
        redis = live.booted.redis()
        try:
            assert redis.ping()
            assert_no_leak(
                MARKER,
                files=[live.booted.live_root / place for place in LEAK_PLACES],
                redis=redis,
                journal=journal,
                blobs={"pg_dump of backup": dump.encode()},
            )
        finally:
            redis.close()


class TestReplyAndDeletion:
    """Across the three users: the reviewer app seals a reply into the store the source
    app writes, the source app opens it with the source's key in its own home, and the
    worker shreds what both wrote."""

    def test_the_reviewer_replies_and_the_source_reads_it(self, live: Live) -> None:
        flow = live.answered.flow
        assert flow["reviewer_login"] == 302, flow["steps"]
        assert flow["reply"] == 302 and flow["source_login"] == 302, flow["steps"]
        assert flow["lookup"] == 200 and flow["reply_read"] is True, flow["steps"]
        assert any(name.endswith("-msg.gpg") for name in live.answered.files_before)

    def test_the_worker_deleted_the_source_and_shredded_its_files(self, live: Live) -> None:
        assert live.answered.flow["delete"] == 302, live.answered.flow["steps"]
        assert live.answered.files_after == []
        assert live.answered.rows_after == "0"
        replies = _psql(live.booted, "SELECT count(*) FROM replies")
        assert replies == "0"


class TestUpgrade:
    def test_the_new_release_migrates_and_restarts_the_apps(self, live: Live) -> None:
        upgrade = live.upgrade
        assert upgrade.apply.changed > 0
        assert upgrade.current_after != upgrade.current_before
        assert live.psql("SELECT count(*) FROM upgrade_probe") == "0"
        for name in APPS:
            before, after = upgrade.before[name], upgrade.after[name]
            assert after["ActiveState"] == "active", name
            assert after["InvocationID"] != before["InvocationID"], f"{name} not restarted"
        status, _ = boot.http_get(live.booted, SOURCE_PORT, "/", live.onion_host("source"))
        assert status == 200

    def test_data_survives_the_upgrade(self, live: Live) -> None:
        assert live.psql("SELECT count(*) FROM submissions") == "1"
        assert live.psql("SELECT count(*) FROM sources") == "1"

    def test_a_rerun_on_the_running_server_changes_nothing(self, live: Live) -> None:
        assert live.again.failed == 0
        assert live.again.changed == 0, re.findall(r"changed: \[.*", live.again.output)


class TestBackupAndRestore:
    def test_the_backup_holds_the_database_dump_encrypted(self, live: Live) -> None:
        restore = live.restore
        sealed = restore.backup_file.read_bytes()
        assert sealed[:1] in {b"\x84", b"\x85", b"\xc1"}
        assert b"PGDMP" not in sealed and MARKER.encode() not in sealed
        assert "run/backup-db/database.pgdump" in restore.archive_members
        assert not restore.dump_left_after_backup, "the dump stayed in /run"

    def test_a_lost_database_comes_back_and_the_server_runs(self, live: Live) -> None:
        assert live.restore.restored.failed == 0
        assert live.psql("SELECT count(*) FROM submissions") == "1"
        assert live.psql("SELECT count(*) FROM sources") == "1"
        assert live.psql("SELECT version_num FROM alembic_version") == PROBE_REVISION
        assert live.psql("SELECT count(*) FROM reviewers") == "1"
        # The cluster the test stopped before restore.yml, and again before site.yml,
        # was started by each.
        restore_outputs = task_outputs(live.restore.restored.output)
        (started,) = restore_outputs["PostgreSQL running (the database is restored into it)"]
        assert "changed: [booted]" in started
        (started,) = task_outputs(live.restore.reapplied.output)["postgresql : PostgreSQL running"]
        assert "changed: [booted]" in started
        for name in APPS:
            assert live.booted.unit(name)["ActiveState"] == "active", name
        status, _ = boot.http_get(live.booted, SOURCE_PORT, "/", live.onion_host("source"))
        assert status == 200
        assert "backup-db" not in live.booted.run("ls", "-A", "/run")
