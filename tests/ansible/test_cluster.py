"""cluster.yml against five booted Debian 12 targets on one private network.

Each role on its own target, as on separate servers: `db` (PostgreSQL and Redis on its
private address), `backend1` (tor as an onionbalance instance, source and reviewer
interfaces, worker, timers), `backend2` (tor, source interface, worker), `worker1` (the
worker only) and `front` (tor and onionbalance with the master key given as input).
The containers boot from one cached tree through overlays (nothing is copied), each in
a network namespace whose veth is a port of one bridge, with NAT out for apt.

The sealed store is the shared database (backup_store: postgresql, docs/cluster.md,
"Sealed store"): the application hosts share no directory; each keeps its own cache.

Then, through the deployed apps (each reached inside its own target's network, as tor
reaches them): a source submits on backend1 for the frontend's address, comes back on
backend2 with its codename and sends again; both sealed files are read from the
database's store and open with the submission key. The reviewer (backend1) replies, the
source reads it, the reviewer deletes the source while the backends' own workers are
stopped: the worker of worker1 carries the deletion out. onionbalance cannot publish
without a Tor network; its configuration is checked with its own code instead
(tests/tor/test_onionbalance.py runs it on a private Tor network).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from keys.gpg import kill_agent
from keys.lifecycle import generate_submission_key
from onion import balance
from tests.ansible import booted as boot
from tests.ansible import target
from tests.ansible.conftest import (
    FIRST_ADMIN,
    STOP_SERVICE_AGENT,
    VENV_BIN,
    Apply,
    ansible_playbook,
    decrypt_backup,
    guarded_tasks,
    remove_tree,
    snapshot_source,
    task_outputs,
)
from tests.support.leaks import assert_no_leak

pytestmark = pytest.mark.timeout(1800)

PASSPHRASE = "correct horse battery staple cluster"
HOSTS = ("db", "backend1", "backend2", "worker1", "front")
APP_HOSTS = ("backend1", "backend2", "worker1")
# Every package of every role is in the one cached tree; a host runs only its own.
FOREIGN_SERVICES = {
    "db": ("tor",),
    "backend1": ("postgresql", "redis-server"),
    "backend2": ("postgresql", "redis-server"),
    "worker1": ("postgresql", "redis-server", "tor"),
    "front": ("postgresql", "redis-server"),
}
FIRST = "CLUSTER-PLAINTEXT-MARKER-41b9: sent on the first backend"
SECOND = "CLUSTER-PLAINTEXT-MARKER-41b9: sent again on the second backend"
REPLY = "CLUSTER-REPLY-8d02: a counsellor will write"
SUBMIT_FLOW = Path(__file__).with_name("submit_flow.py")


@dataclass(frozen=True)
class Cluster:
    hosts: dict[str, boot.Booted]
    addresses: dict[str, str]
    master: str
    first: Apply
    submitted: dict[str, object]
    resumed: dict[str, object]
    sealed_on_backend2: dict[str, str]
    answered: dict[str, object]
    workers_during_deletion: dict[str, str]
    left_after_deletion: tuple[list[str], str]
    seconds: float

    def psql(self, query: str) -> str:
        return (
            self.hosts["db"]
            .run("runuser", "-u", "postgres", "--", "psql", "-d", "backup", "-tA", "-c", query)
            .strip()
        )


def _flow(host: boot.Booted, *argv: str) -> dict[str, object]:
    """submit_flow.py inside `host`'s network (the apps listen on its loopback)."""
    out = host.in_network([str(VENV_BIN / "python"), str(SUBMIT_FLOW), *argv])
    result: dict[str, object] = json.loads(out)
    return result


def _inventory(
    work: Path,
    hosts: dict[str, boot.Booted],
    addresses: dict[str, str],
    public: Path,
    master_key: Path,
    source: Path,
    wheelhouse: Path,
) -> Path:
    def host(name: str) -> dict[str, str]:
        return {
            "ansible_chroot_root": str(hosts[name].root),
            "ansible_chroot_booted_pid": str(hosts[name].pid),
            "backup_private_address": addresses[name],
        }

    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "backup_chroot",
                "backup_start_services": True,
                "backup_submission_public_key": str(public),
                "backup_first_admin": FIRST_ADMIN,
                "backup_source_dir": str(source),
                "backup_wheelhouse_archive": str(wheelhouse),
                "backup_onionbalance_master_key": str(master_key),
                "backup_store": "postgresql",
            },
            "children": {
                "database": {"hosts": {"db": host("db")}},
                "redis": {"hosts": {"db": {}}},
                "backends": {"hosts": {"backend1": host("backend1"), "backend2": host("backend2")}},
                "workers": {"hosts": {"worker1": host("worker1")}},
                "frontend": {"hosts": {"front": host("front")}},
            },
        }
    }
    path = work / "cluster.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def _psql(db: boot.Booted, query: str) -> str:
    return db.run("runuser", "-u", "postgres", "--", "psql", "-d", "backup", "-tA", "-c", query)


def _shared_copies(db: boot.Booted) -> list[str]:
    """The file names of the sealed store's copies in the database."""
    return sorted(_psql(db, "SELECT filename FROM sealed_blobs").split())


def _shared_copy(db: boot.Booted, filename: str) -> bytes:
    """One sealed file as the store keeps it in the database, its chunks in order."""
    assert re.fullmatch(r"[\w.-]+", filename), filename
    query = (  # the name is checked above
        "SELECT translate(encode(c.data, 'base64'), E'\\n', '') FROM sealed_blob_chunks c"  # noqa: S608
        " JOIN sealed_blobs b ON b.id = c.blob_id"
        f" WHERE b.filename = '{filename}' ORDER BY c.n"
    )
    rows = _psql(db, query)
    return b"".join(base64.b64decode(line) for line in rows.split())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert os.geteuid() == 0, "the cluster test needs root (nspawn, netns, overlays)"
    started = time.monotonic()
    work = tmp_path_factory.mktemp("cluster")
    tree = target.cached_tree(extra=target.BOOTED_EXTRA)
    wheelhouse = target.cached_wheelhouse(VENV_BIN / "pip")

    # The air-gapped workstation's key (its public half is the input) and the frontend's
    # master key, made offline once: the playbook is given its copy, never makes one.
    home = work / "workstation-gnupg"
    key = generate_submission_key(home, PASSPHRASE, rsa=False)
    kill_agent(home)
    public = work / "submission-public.asc"
    public.write_text(key.public_armored)
    frontend = balance.create_frontend(work / "offline-onionbalance")
    source = snapshot_source(work / "release")

    network = boot.Bridge.create(len(HOSTS))
    roots: dict[str, Path] = {}
    hosts: dict[str, boot.Booted] = {}
    try:
        for name, member in zip(HOSTS, network.members, strict=True):
            roots[name] = target.overlay_tree(tree, work / name)
            hosts[name] = boot.boot(roots[name], work / f"{name}.console.log", member)
            for unit in FOREIGN_SERVICES[name]:
                hosts[name].run("systemctl", "disable", "--now", "--quiet", unit)
        addresses = {
            name: member.guest_address for name, member in zip(HOSTS, network.members, strict=True)
        }
        inventory = _inventory(
            work, hosts, addresses, public, frontend.key_file, source, wheelhouse
        )
        (work / "ansible-local").mkdir()

        def apply(verbose: bool = False) -> Apply:
            try:
                return ansible_playbook(inventory, "cluster.yml", verbose=verbose)
            except AssertionError as failed:
                journals = "".join(
                    f"--- {name} ---\n"
                    + hosts[name].run(
                        "journalctl", "--no-pager", "-n", "30", "-u", "backup-*", check=False
                    )
                    for name in APP_HOSTS
                ) + "--- db ---\n" + hosts["db"].run(
                    "journalctl", "--no-pager", "-n", "40", "-u", "redis-server",
                    "-u", "postgresql@15-main", check=False,
                )  # fmt: skip
                raise AssertionError(f"{failed}\n{journals}") from None

        # One apply: that a second changes nothing is checked on the single-server
        # targets (test_deploy, test_booted), which run the same roles; five hosts take
        # a hundred seconds more of the suite's budget for it.
        first = apply(verbose=True)
        (work / "first-apply.log").write_text(first.output)
        b1, b2 = hosts["backend1"], hosts["backend2"]

        # A source on backend1, then back on backend2 (its codename, its session: the
        # peppers, the database, Redis and the store are the cluster's, not a backend's).
        submitted = _flow(b1, "submit", "http://127.0.0.1:8080", frontend.address, FIRST)
        codename = str(submitted["codename"])
        resumed = _flow(b2, "resume", "http://127.0.0.1:8080", frontend.address, codename, SECOND)

        # The store in the database: both sealed messages, whichever backend took them.
        sealed: dict[str, str] = {}
        for index, name in enumerate(_shared_copies(hosts["db"])):
            if name.endswith("-msg.gpg"):
                copy = work / f"sealed-{index}.gpg"
                copy.write_bytes(_shared_copy(hosts["db"], name))
                out = work / f"opened-{index}.txt"
                decrypt_backup(home, PASSPHRASE, copy, out)
                sealed[name] = out.read_text()
                out.unlink()

        # The reviewer (backend1) answers and deletes; the backends' workers are stopped,
        # so the deletion can only be carried out by worker1's.
        for backend in (b1, b2):
            backend.run("systemctl", "stop", "backup-worker.service")
        source_uuid = hosts["db"].run(
            "runuser", "-u", "postgres", "--", "psql", "-d", "backup", "-tA", "-c",
            "SELECT uuid FROM sources",
        ).strip()  # fmt: skip
        assert re.fullmatch(r"[0-9a-f-]{36}", source_uuid), source_uuid
        handover = (roots["backend1"] / "root/backup-first-admin.txt").read_text()
        passphrase = handover.split("Passphrase (shown once):", 1)[1].strip().splitlines()[0]
        secret = re.search(r"[?&]secret=([A-Z2-7]+)", handover)
        assert secret, "no TOTP secret in the handover file"
        reviewer_host = (roots["backend1"] / "var/lib/tor/backup/journalist/hostname").read_text()
        answered = _flow(
            b1, "reply",
            "http://127.0.0.1:8080", frontend.address,
            "http://127.0.0.1:8081", reviewer_host.strip(),
            codename, source_uuid, FIRST_ADMIN, passphrase.strip(), secret.group(1), REPLY,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        left: tuple[list[str], str] = ([], "")
        while time.monotonic() < deadline:
            rows = hosts["db"].run(
                "runuser", "-u", "postgres", "--", "psql", "-d", "backup", "-tA", "-c",
                "SELECT count(*) FROM sources",
            ).strip()  # fmt: skip
            left = (_shared_copies(hosts["db"]), rows)
            if left == ([], "0"):
                break
            time.sleep(1)
        workers = {name: hosts[name].unit("backup-worker.service")["ActiveState"]
                   for name in APP_HOSTS}  # fmt: skip
        for backend in (b1, b2):
            backend.run("systemctl", "start", "backup-worker.service")

        seconds = time.monotonic() - started
        (work / "timings.txt").write_text(
            f"first apply {first.seconds:.0f}s, whole fixture {seconds:.0f}s\n"
        )
        yield Cluster(
            hosts, addresses, frontend.address, first, submitted, resumed, sealed,
            answered, workers, left, seconds,
        )  # fmt: skip
    finally:
        for name, host in hosts.items():
            if name in APP_HOSTS:
                host.run(*STOP_SERVICE_AGENT, check=False)
            host.stop()
        network.remove()
        for name, root in roots.items():
            target.remove_overlay(root)
            remove_tree(work / name)


class TestApply:
    def test_each_role_runs_on_its_own_host(self, cluster: Cluster) -> None:
        # db: PostgreSQL and Redis only; the backends: tor, their apps and worker, the
        # reviewer interface and the timers on backend1 only; worker1: the worker only;
        # front: tor and onionbalance.
        active = {
            "db": ["postgresql@15-main.service", "redis-server.service"],
            "backend1": ["tor@default.service", "backup-source.service",
                         "backup-journalist.service", "backup-worker.service",
                         "backup-sweep.timer", "backup-care-escalate.timer"],
            "backend2": ["tor@default.service", "backup-source.service",
                         "backup-worker.service"],
            "worker1": ["backup-worker.service"],
            "front": ["tor@default.service"],
        }  # fmt: skip
        absent = {
            "db": ["backup-worker.service", "tor@default.service"],
            "backend2": ["backup-journalist.service", "backup-sweep.timer",
                         "redis-server.service", "postgresql@15-main.service"],
            "worker1": ["backup-source.service", "backup-journalist.service",
                        "backup-sweep.timer", "tor@default.service"],
            "front": ["backup-worker.service", "postgresql@15-main.service"],
        }  # fmt: skip
        for name, units in active.items():
            for unit in units:
                assert cluster.hosts[name].unit(unit)["ActiveState"] == "active", (name, unit)
        for name, units in absent.items():
            for unit in units:
                assert cluster.hosts[name].unit(unit)["ActiveState"] == "inactive", (name, unit)
        for name in HOSTS:
            failed = cluster.hosts[name].run(
                "systemctl", "list-units", "--failed", "--plain", "--no-legend"
            )
            assert failed.strip() == "", (name, failed)

    def test_the_cluster_tasks_ran(self, cluster: Cluster) -> None:
        """The runtime tasks only a cluster has ran (the single-server tests see the
        others)."""
        tasks = task_outputs(cluster.first.output)
        for name in guarded_tasks(cluster=True) - guarded_tasks():
            assert name in tasks, f"{name} is not in the run"
            assert re.search(r"^(ok|changed): \[", tasks[name][0], re.M), (name, tasks[name])

    def test_it_takes_a_reasonable_time(self, cluster: Cluster) -> None:
        # Not a timed assertion: the durations are recorded (timings.txt) and shown.
        print(f"cluster: first apply {cluster.first.seconds:.0f}s, whole {cluster.seconds:.0f}s")
        assert cluster.first.seconds > 0


class TestNetwork:
    def test_the_database_host_listens_on_its_private_address_only(self, cluster: Cluster) -> None:
        db = cluster.hosts["db"]
        private = cluster.addresses["db"]
        assert db.listening() == {f"{private}:5432", f"{private}:6379"}, db.listening()
        for name in ("backend1", "backend2", "worker1"):
            assert cluster.hosts[name].listening() <= {"127.0.0.1:8080", "127.0.0.1:8081"}

    @pytest.mark.parametrize(("client", "port"), [("worker1", 5432), ("backend2", 6379)])
    def test_the_application_hosts_reach_the_database_and_redis(
        self, cluster: Cluster, client: str, port: int
    ) -> None:
        assert _connects(cluster.hosts[client], cluster.addresses["db"], port)

    @pytest.mark.parametrize("port", [5432, 6379])
    def test_no_other_host_reaches_them(self, cluster: Cluster, port: int) -> None:
        # The frontend is on the same network, but not an application host.
        assert not _connects(cluster.hosts["front"], cluster.addresses["db"], port)

    def test_redis_refuses_without_its_password(self, cluster: Cluster) -> None:
        answer = cluster.hosts["worker1"].run(
            "redis-cli", "-h", cluster.addresses["db"], "ping", check=False
        )
        assert "NOAUTH" in answer

    def test_postgresql_refuses_a_connection_without_tls(self, cluster: Cluster) -> None:
        env = cluster.hosts["worker1"].run("cat", "/etc/backup/backup.env")
        url = re.search(r'DATABASE_URL="postgresql\+psycopg://([^"]+)"', env)
        assert url, env
        userinfo, rest = url.group(1).split("@", 1)
        user, password = userinfo.split(":", 1)
        hostport = rest.split("/", 1)[0]
        assert "sslmode=verify-ca" in rest and hostport == f"{cluster.addresses['db']}:5432"

        def psql(sslmode: str) -> str:
            return cluster.hosts["worker1"].run(
                "env", f"PGPASSWORD={password}", f"PGSSLMODE={sslmode}",
                "psql", "-h", cluster.addresses["db"], "-U", user, "-d", "backup",
                "-tAc", "SELECT 1",
                check=False,
            )  # fmt: skip

        assert psql("require").strip() == "1"
        assert psql("disable").strip() == ""  # no pg_hba line lets it in


def _connects(client: boot.Booted, address: str, port: int) -> bool:
    """A TCP connection from `client`'s network to address:port succeeds."""
    probe = subprocess.run(
        [
            "ip", "netns", "exec", client.network.name, "python3", "-c",
            "import socket,sys; s=socket.socket(); s.settimeout(3);"
            "sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))))",
            address, str(port),
        ],
        check=False,
    )  # fmt: skip
    return probe.returncode == 0


class TestOnionbalance:
    def test_the_backends_are_instances_of_the_frontends_address(self, cluster: Cluster) -> None:
        for name in ("backend1", "backend2"):
            root = cluster.hosts[name].root
            ob_config = (root / "var/lib/tor/backup/source/ob_config").read_text()
            assert ob_config == f"MasterOnionAddress {cluster.master}\n"
            torrc = (root / "etc/tor/torrc").read_text()
            assert "HiddenServiceOnionbalanceInstance 1" in torrc
            env = (root / "etc/backup/backup.env").read_text()
            assert f"BACKUP_SOURCE_ONION_HOST={cluster.master}\n" in env
        # The reviewer interface on one backend only.
        assert "journalist" in (cluster.hosts["backend1"].root / "etc/tor/torrc").read_text()
        assert "journalist" not in (cluster.hosts["backend2"].root / "etc/tor/torrc").read_text()

    def test_onionbalance_loads_the_given_key_and_the_backends(self, cluster: Cluster) -> None:
        """Debian's onionbalance, inside the frontend, with its own loader: the key given
        as input (the one address) and each backend's own address."""
        front = cluster.hosts["front"]
        mode = front.run("stat", "-c", "%U %a", "/etc/onionbalance/master.key").split()
        assert mode == ["onionbalance", "600"]
        code = (
            "import sys\n"
            "from onionbalance.hs_v3 import onionbalance as ob, service\n"
            "o = ob.Onionbalance()\n"
            "o.config_path = sys.argv[1]\n"
            "data = o.load_config_file()['services'][0]\n"
            "s = service.OnionbalanceService.__new__(service.OnionbalanceService)\n"
            "s.is_priv_key_in_tor_format = False\n"
            "_key, address = s._load_service_keys(data, sys.argv[1])\n"
            "print(address, *[i['address'] for i in data['instances']])\n"
        )
        words = front.run(
            "runuser", "-u", "onionbalance", "--",
            "python3", "-c", code, "/etc/onionbalance/config.yaml",
        ).split()  # fmt: skip
        backends = [
            (cluster.hosts[name].root / "var/lib/tor/backup/source/hostname").read_text().strip()
            for name in ("backend1", "backend2")
        ]
        assert words[0].removesuffix(".onion") == cluster.master.removesuffix(".onion")
        assert [w.removesuffix(".onion") for w in words[1:]] == [
            b.removesuffix(".onion") for b in backends
        ]
        # onionbalance's tor serves no onion service and has no SOCKS port.
        torrc = (front.root / "etc/tor/torrc").read_text()
        assert "SocksPort 0" in torrc and "HiddenServiceDir" not in torrc

    def test_onionbalance_runs_on_tors_control_socket(self, cluster: Cluster) -> None:
        """Without a Tor network its tor gets no consensus, and onionbalance exits asking
        for one: systemd restarts it until tor has one (the unit's drop-in). It got as
        far as asking its tor, through the control socket (group and cookie)."""
        front = cluster.hosts["front"]
        shown = front.run(
            "systemctl", "show", "onionbalance", "-p", "SubState,Restart,UnitFileState"
        )
        state = dict(line.split("=", 1) for line in shown.split())
        assert state["SubState"] in {"running", "auto-restart"}, state
        assert state["Restart"] == "on-failure" and state["UnitFileState"] == "enabled"
        journal = front.run("journalctl", "-u", "onionbalance", "--no-pager", "-o", "cat")
        assert "Initializing onionbalance" in journal
        for refusal in ("Permission denied", "AuthenticationFailure", "Unable to connect"):
            assert refusal not in journal, journal[-2000:]


class TestSubmissionAcrossHosts:
    def test_a_source_starts_on_one_backend_and_goes_on_on_the_other(
        self, cluster: Cluster
    ) -> None:
        assert cluster.submitted["status"] == 302, cluster.submitted
        assert cluster.resumed["login"] == 302, cluster.resumed
        assert cluster.resumed["lookup"] == 200, cluster.resumed
        assert cluster.resumed["status"] == 302, cluster.resumed

    def test_both_sealed_messages_are_in_the_shared_store(self, cluster: Cluster) -> None:
        assert sorted(cluster.sealed_on_backend2.values()) == sorted([FIRST, SECOND])

    def test_the_reviewer_on_backend1_replies_and_the_source_reads_it(
        self, cluster: Cluster
    ) -> None:
        flow = cluster.answered
        assert flow["reviewer_login"] == 302 and flow["reply"] == 302, flow["steps"]
        assert flow["reply_read"] is True, flow["steps"]

    def test_worker1_alone_carried_out_the_deletion(self, cluster: Cluster) -> None:
        assert cluster.answered["delete"] == 302, cluster.answered["steps"]
        assert cluster.workers_during_deletion == {
            "backend1": "inactive",
            "backend2": "inactive",
            "worker1": "active",
        }
        assert cluster.left_after_deletion == ([], "0")
        assert cluster.psql("SELECT count(*) FROM submissions") == "0"

    def test_no_plaintext_anywhere(self, cluster: Cluster) -> None:
        places = ("var/lib/backup", "var/log", "var/lib/redis", "var/lib/postgresql", "tmp",
                  "var/tmp", "run", "dev/shm", "etc/backup")  # fmt: skip
        # Where each host writes (the database host has no instance directory).
        roots = [cluster.hosts[name].live_root for name in ("db", *APP_HOSTS)]
        files = [root / place for root in roots for place in places if (root / place).exists()]
        dump = cluster.hosts["db"].run("runuser", "-u", "postgres", "--", "pg_dump", "backup")
        journals = b"".join(
            cluster.hosts[name].run_bytes("journalctl", "--no-pager", "-o", "export")
            for name in HOSTS
        )
        redis = cluster.hosts["db"].redis()
        try:
            assert redis.ping()
            assert_no_leak(
                [FIRST, SECOND, REPLY],
                files=files,
                redis=redis,
                journal=journals,
                blobs={"pg_dump of backup": dump.encode()},
            )
        finally:
            redis.close()
