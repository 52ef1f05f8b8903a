"""Fixtures of the deployment tests: a debootstrap copy, inputs, two applies."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import yaml

from keys.gpg import kill_agent
from keys.lifecycle import generate_submission_key
from tests.ansible import target

ANSIBLE_DIR = target.REPO / "ansible"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", target.REPO / ".venv")) / "bin"
FIRST_ADMIN = "firstadmin"
SSH_FROM = "192.0.2.0/24"
RETENTION_DAYS = 90
PASSPHRASE = "correct horse battery staple deploy"
# What the app role packs (roles/app/tasks/main.yml, "Pack the code").
SOURCE_ITEMS = (
    "pyproject.toml",
    "requirements.lock",
    "README.md",
    "vault",
    "composition",
    "keys",
    "web_shared",
    "onion",
    "federation",
    "source_app",
    "journalist_app",
    "workstation",
    "backupctl",
)
_RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass(frozen=True)
class Apply:
    """One run of the playbook: its output, the recap's counts and how long it took."""

    output: str
    ok: int
    changed: int
    failed: int
    seconds: float


@dataclass(frozen=True)
class Deployed:
    root: Path
    first: Apply
    second: Apply
    submission_fingerprint: str
    secret_keygrips: tuple[str, ...]
    onion_secret_before: bytes
    backup_file: Path
    restored: Apply
    reapplied: Apply

    def path(self, inside: str) -> Path:
        """`inside` in the tree; absolute symlinks on the way resolve within the tree."""
        parts = PurePosixPath(inside).parts[1:]
        current = self.root
        for index, part in enumerate(parts):
            current = current / part
            last = index == len(parts) - 1
            if not last and current.is_symlink() and str(current.readlink()).startswith("/"):
                current = self.path(str(current.readlink()))
        return current


# The tasks only a running system can do, each guarded by `backup_start_services`: a
# chroot apply skips them (saying why), a booted one runs them. A task added with that
# guard must be added here, so a test looks at it in both runs.
RUNTIME_TASKS = (
    "hardening : Swap switched off now",
    "postgresql : PostgreSQL running",
    "postgresql : PostgreSQL accepts connections",
    "postgresql : Database role of the service users, and the database it owns",
    "app : Stop the apps before the schema changes under them",
    "services : Units running",
    "tor : Tor running",
    "tor : Wait for tor to create the onion services",
)
_TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(.+?)\] \*+$", re.M)


# Tasks that only a cluster's hosts run (cluster.yml): their `when` names one of these
# too. tests/ansible/test_cluster.py sees them run.
CLUSTER_ONLY = ("backup_postgresql_listen", "backup_redis_listen")


def guarded_tasks(cluster: bool = False) -> set[str]:
    """Every role task whose `when` names backup_start_services, as "role : name": of
    the roles site.yml applies, leaving out the cluster's own tasks (or, with `cluster`,
    of every role, the cluster's own included)."""
    site_roles = {
        entry["role"]
        for play in yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
        for entry in play.get("roles", [])
    }
    found = set()
    for tasks_file in sorted(ANSIBLE_DIR.glob("roles/*/tasks/*.yml")):
        role = tasks_file.parents[1].name
        if not cluster and role not in site_roles:
            continue
        for task in yaml.safe_load(tasks_file.read_text()) or []:
            when = task.get("when", [])
            conditions = [str(c) for c in ([when] if isinstance(when, str) else list(when))]
            if not any("backup_start_services" in condition for condition in conditions):
                continue
            if not cluster and any(name in c for c in conditions for name in CLUSTER_ONLY):
                continue
            found.add(f"{role} : {task['name']}")
    return found


def task_outputs(output: str) -> dict[str, list[str]]:
    """Each task's block of an ansible-playbook output, by "role : name" (a task that
    runs more than once, a handler, has one block per run)."""
    headers = list(_TASK_HEADER.finditer(output))
    blocks: dict[str, list[str]] = {}
    for header, after in zip(headers, [*headers[1:], None], strict=True):
        end = after.start() if after else output.find("PLAY RECAP")
        blocks.setdefault(header.group(1), []).append(output[header.end() : end])
    return blocks


def ansible_playbook(
    inventory: Path, playbook: str = "site.yml", *extra_vars: str, verbose: bool = False
) -> Apply:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(inventory.parent / "ansible-local"),
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        # The filters import the project (onion/): this checkout's, whichever checkout
        # the venv was installed from.
        PYTHONPATH=str(target.REPO),
    )
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            # -v: a skipped task says why (its false condition), and a command's output.
            *(["-v"] if verbose else []),
            *(arg for pair in extra_vars for arg in ("-e", pair)),
            playbook,
        ],
        cwd=ANSIBLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    # Shown with -s (and in a failing test's captured output): where a fixture's time goes.
    print(f"ansible-playbook {playbook} {' '.join(extra_vars)}: {seconds:.0f}s")
    output = proc.stdout + proc.stderr
    match = _RECAP.search(proc.stdout)
    assert proc.returncode == 0 and match, f"ansible-playbook failed:\n{output[-6000:]}"
    ok, changed, _unreachable, failed = (int(group) for group in match.groups())
    return Apply(output, ok, changed, failed, seconds)


# The service users (roles/backup/defaults), one per process's GnuPG home.
SERVICE_USERS = {
    "source": "backup-source",
    "journalist": "backup-journalist",
    "worker": "backup-worker",
}
# The gpg-agents that backupctl (run by the playbook and the checks) leaves in the
# target: one per process's GnuPG home, each stopped by the home's user.
STOP_SERVICE_AGENT = (
    "sh", "-c",
    "for side in source journalist worker; do"
    " runuser -u backup-$side -- gpgconf --homedir /var/lib/backup/gnupg/$side"
    " --kill gpg-agent; done",
)  # fmt: skip


def remove_tree(root: Path) -> None:
    """The test's copy of the target goes, unless BACKUP_TEST_KEEP_TREE asks to keep it."""
    if not os.environ.get("BACKUP_TEST_KEEP_TREE"):
        shutil.rmtree(root, ignore_errors=True)


def snapshot_source(source: Path) -> Path:
    """A copy of the code to deploy: others may edit the working tree while a test runs,
    and a second apply must deploy the very same release as the first."""
    for name in SOURCE_ITEMS:
        if (target.REPO / name).is_dir():
            shutil.copytree(
                target.REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target.REPO / name, source / name)
    return source


def decrypt_backup(home: Path, passphrase: str, backup_file: Path, out: Path) -> Path:
    """What the admin does on the air-gapped workstation: decrypt with the submission key."""
    subprocess.run(
        [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
            "--output",
            str(out),
            "--decrypt",
            str(backup_file),
        ],
        check=True,
        capture_output=True,
    )
    kill_agent(home)
    return out


def _fake_onion_service(root: Path, name: str) -> bytes:
    """What tor leaves in a HiddenServiceDir; the playbook must keep it as it is."""
    service = root / "var/lib/tor/backup" / name
    service.mkdir(parents=True, mode=0o700)
    secret = b"== ed25519v1-secret: type0 ==\x00\x00\x00" + secrets.token_bytes(64)
    (service / "hs_ed25519_secret_key").write_bytes(secret)
    address = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(55))
    (service / "hostname").write_text(f"{address}d.onion\n")
    tor = next(
        line.split(":")
        for line in (root / "etc/passwd").read_text().splitlines()
        if line.startswith("debian-tor:")
    )
    for path in (service.parent, service, *service.iterdir()):
        os.chown(path, int(tor[2]), int(tor[3]))
    return secret


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """A fresh copy of the cached Debian 12 tree, with the playbook applied twice."""
    assert os.geteuid() == 0, "the deployment test needs root (chroot, debootstrap)"
    work = tmp_path_factory.mktemp("deploy")
    root = target.copy_tree(target.cached_tree(), work / "root")
    wheelhouse = target.cached_wheelhouse(VENV_BIN / "pip")

    # The submission key is made here, as on the air-gapped workstation: only its
    # public half is handed to the playbook.
    home = work / "workstation-gnupg"
    key = generate_submission_key(home, PASSPHRASE, rsa=False)
    kill_agent(home)
    public = work / "submission-public.asc"
    public.write_text(key.public_armored)
    grips = subprocess.run(
        ["gpg", "--homedir", str(home), "--with-keygrip", "--with-colons", "-K"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    keygrips = tuple(line.split(":")[9] for line in grips.splitlines() if line.startswith("grp"))
    kill_agent(home)

    # An existing server: tor already made both services. Their keys must survive.
    onion_secret = _fake_onion_service(root, "source")
    _fake_onion_service(root, "journalist")

    source = snapshot_source(work / "source")

    inventory = work / "inventory.yml"
    inventory.write_text(
        "all:\n"
        "  hosts:\n"
        "    debian12:\n"
        "      ansible_connection: backup_chroot\n"
        f"      ansible_chroot_root: {root}\n"
        "  vars:\n"
        # The one switch for a chroot: no systemd runs there (see roles/backup/defaults).
        "    backup_start_services: false\n"
        f"    backup_submission_public_key: {public}\n"
        f"    backup_first_admin: {FIRST_ADMIN}\n"
        f"    backup_source_dir: {source}\n"
        f"    backup_wheelhouse_archive: {wheelhouse}\n"
        f"    backup_ssh_allowed_cidrs: ['{SSH_FROM}']\n"
        f"    backup_retention_days: {RETENTION_DAYS}\n"
        "    backup_ssh_onion: true\n"
    )
    (work / "ansible-local").mkdir()
    first = ansible_playbook(inventory, verbose=True)
    second = ansible_playbook(inventory)
    timings = work / "timings.txt"
    timings.write_text(f"first {first.seconds:.0f}s, second {second.seconds:.0f}s\n")
    (work / "first-apply.log").write_text(first.output)  # -v: what ran, what was skipped

    # Backup, then a restore over a lost database, then site.yml again.
    backups = work / "backups"
    ansible_playbook(inventory, "backup.yml", f"backup_backup_dir={backups}")
    (backup_file,) = backups.glob("*.tar.gpg")
    decrypted = decrypt_backup(home, PASSPHRASE, backup_file, work / "backup.tar")
    (root / "var/lib/backup/db/backup.sqlite").unlink()
    restored = ansible_playbook(inventory, "restore.yml", f"backup_restore_archive={decrypted}")
    reapplied = ansible_playbook(inventory)
    try:
        yield Deployed(
            root,
            first,
            second,
            key.fingerprint,
            keygrips,
            onion_secret,
            backup_file,
            restored,
            reapplied,
        )
    finally:
        # Checks run backupctl (so gpg) inside the tree: stop the agent they left there.
        subprocess.run(["chroot", str(root), *STOP_SERVICE_AGENT], check=False, capture_output=True)
        remove_tree(root)
