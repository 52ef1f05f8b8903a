"""One source address over two backends, on the private Tor network: Debian's
onionbalance publishes the frontend's descriptor over both backends' introduction points;
each backend runs its own tor and its own `backupctl serve source` against the shared
PostgreSQL, Redis and store. Sources reach whichever backend; one backend is killed while
they keep submitting: the address keeps answering, every acknowledged submission is in
the database and the store, and the receipts stay one verified chain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
import requests
from sqlalchemy import select
from stem import CircPurpose, CircStatus
from stem.control import EventType
from stem.response.events import CircuitEvent

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from keys.receipts import TrustedKeys
from onion import balance, clientauth
from onion.torrc import SOURCE_SERVICE, ServerTorrc, render_server_torrc
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.support.reports import NotAcknowledgedError, send_report
from tests.support.servers import free_port
from tests.support.serving import app_spec
from tests.tor.network import (
    ONIONBALANCE_VOTING_INTERVAL,
    Node,
    TorNetwork,
    tor_network,
    wait_bootstrapped,
)
from vault.models import Source, Submission
from vault.services import custody

ONIONBALANCE = "/usr/sbin/onionbalance"
PUBLISH_TIMEOUT = 240.0
# Sources sent until both backends have taken at least this many, then one is killed.
EACH_BACKEND_BEFORE_KILL = 2
MAX_SOURCES_BEFORE_KILL = 30
ACKNOWLEDGED_AFTER_KILL = 4
RUN_DEADLINE = 600.0
REQUEST_TIMEOUT = 60

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Backend:
    """One backend: its own tor (source service only, an onionbalance instance) and its
    own source app, on the shared database, Redis and store."""

    name: str
    node: Node
    settings: ServerTorrc
    port: int
    # Rendezvous circuits this backend's tor completed: one per source that reached it
    # (each source has circuits of its own: SOCKS isolation). Not secret, not the app's.
    rendezvous: set[str] = field(default_factory=set)

    @property
    def address(self) -> str:
        return clientauth.onion_address(Path(self.settings.service_dir(SOURCE_SERVICE)))

    def watch(self) -> None:
        def on_circuit(event: CircuitEvent) -> None:
            if event.purpose == CircPurpose.HS_SERVICE_REND and event.status == CircStatus.BUILT:
                self.rendezvous.add(event.id)

        self.node.controller().add_event_listener(on_circuit, EventType.CIRC)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def balanced_net() -> Iterator[TorNetwork]:
    """A private Tor network on onionbalance's test-network schedule."""
    with tor_network(ONIONBALANCE_VOTING_INTERVAL) as net:
        yield net


def start_backend(net: TorNetwork, name: str, master: str) -> Backend:
    data_dir = net.root / name
    port = free_port()
    settings = ServerTorrc(
        data_dir=PurePosixPath(data_dir),
        services_dir=PurePosixPath(data_dir / "hs"),
        source_target=f"127.0.0.1:{port}",
        control_socket=None,
        user=None,
        onionbalance_instance=True,
        journalist_service=False,
    )
    # As `backupctl onion balance instance` does on a backend, before its tor starts.
    balance.write_instance_config(Path(settings.service_dir(SOURCE_SERVICE)), master)
    node = net.start_node(name, {}, extra=render_server_torrc(settings))
    backend = Backend(name, node, settings, port)
    backend.watch()
    return backend


def backend_env(runtime: Runtime, master: str) -> dict[str, str]:
    """What each backend's `backupctl serve source` sees: the shared database, Redis and
    instance directory (store included), and the frontend's address as its Host."""
    config = runtime.config
    assert config.redis_url is not None
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BACKUP_", "TEST_")) and key not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        BACKUP_INSTANCE_DIR=str(config.instance_dir),
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        BACKUP_PRODUCTION="1",
        BACKUP_SOURCE_ONION_HOST=master,
        BACKUP_DEV_TOR="0",
    )
    return env


@dataclass
class Run:
    """What the sources saw: the messages whose submission was acknowledged (the
    redirect to /lookup after /submit), which backend took each, and what failed."""

    backends: list[Backend]
    acknowledged: list[str] = field(default_factory=list)
    # Per backend, the acknowledged reports whose rendezvous circuit it alone completed
    # while that report was being sent (one source at a time: no overlap).
    taken: dict[str, list[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    after_kill: int = 0
    killed: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def took(self, name: str) -> int:
        return len(self.taken.get(name, []))


def one_source(client: Node, master: str, message: str) -> None:
    """A new source with SOCKS credentials of its own (own circuits, so its own pick of
    an introduction point, hence of a backend) sends one report."""
    session = requests.Session()
    proxy = f"socks5h://{uuid.uuid4().hex}:x@127.0.0.1:{client.socks_port}"
    session.proxies = {"http": proxy, "https": proxy}
    send_report(session, f"http://{master}", message, REQUEST_TIMEOUT)


def submit_until_stopped(client: Node, master: str, run: Run) -> None:
    deadline = time.monotonic() + RUN_DEADLINE
    while not run.stop.is_set() and time.monotonic() < deadline:
        message = f"balanced report {uuid.uuid4().hex}"
        before = {b.name: set(b.rendezvous) for b in run.backends}
        try:
            one_source(client, master, message)
        except NotAcknowledgedError as exc:  # an answer, but not the acknowledgement
            run.failures.append(str(exc))
        except Exception as exc:  # a circuit through the killed backend, a timeout...
            run.failures.append(type(exc).__name__)
            time.sleep(1.0)
        else:
            run.acknowledged.append(message)
            reached = [b.name for b in run.backends if b.rendezvous - before[b.name]]
            if len(reached) == 1:
                run.taken.setdefault(reached[0], []).append(message)
            if run.killed.is_set():
                run.after_kill += 1


def start_source_app(backend: Backend, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`backupctl serve source` for one backend, in its own process group (to be killed
    whole), once it answers on its port."""
    spec = app_spec("source", backend.port, log)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            spec.argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            requests.get(
                f"http://127.0.0.1:{backend.port}/", headers={"Host": "localhost"}, timeout=30
            )
            return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"backend {backend.name} did not answer:\n{log.read_text()}")


def kill(proc: subprocess.Popen[bytes]) -> None:
    """As a seized or failed machine: no signal handlers, no goodbye."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def start_onionbalance(
    frontend: balance.Frontend, node: Node, log: Path
) -> subprocess.Popen[bytes]:
    """Debian's onionbalance, on the frontend's tor, on the test network's schedule."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [
                ONIONBALANCE,
                "--is-testnet",
                "--verbosity", "info",
                "--socket", str(node.tor.control_socket),
                "--config", str(frontend.config_file),
            ],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(frontend.directory)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_answering(client: Node, master: str, onionbalance_log: Path) -> None:
    """The frontend's descriptor is on the directories: the address answers."""
    session = requests.Session()
    proxy = f"socks5h://127.0.0.1:{client.socks_port}"
    session.proxies = {"http": proxy, "https": proxy}
    deadline = time.monotonic() + PUBLISH_TIMEOUT
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            if session.get(f"http://{master}/", timeout=30).status_code == 200:
                return
        except requests.RequestException as exc:
            seen.append(type(exc).__name__)
        client.controller().signal("NEWNYM")  # refetch the descriptor
        time.sleep(3.0)
    raise AssertionError(
        f"{master} never answered ({seen[-5:]}); onionbalance said:\n"
        + "\n".join(onionbalance_log.read_text().splitlines()[-30:])
    )


def opened_messages(runtime: Runtime, keyring: GpgKeyring) -> set[str]:
    """Every message submission in the database, read from the shared store and opened
    with the submission key (as the workstation would)."""
    with runtime.session() as db:
        rows = db.execute(select(Submission, Source.uuid).join(Source)).all()
        paths = [runtime.store.path_of(source_uuid, row.filename) for row, source_uuid in rows]
    return {keyring.open_bytes(path.read_bytes(), SUBMISSION_PASSPHRASE).decode() for path in paths}


def test_one_address_over_two_backends_survives_losing_one(
    balanced_net: TorNetwork,
    runtime: Runtime,
    workstation_keyring: GpgKeyring,
    tmp_path: Path,
) -> None:
    net = balanced_net
    frontend = balance.create_frontend(net.root / "onionbalance")
    master = frontend.address
    backends = [start_backend(net, f"backend{index}", master) for index in (1, 2)]
    balance.write_frontend_config(frontend.directory, [backend.address for backend in backends])
    front_tor = net.start_node(
        "frontend",
        {},
        extra=balance.render_frontend_torrc(
            balance.FrontendTorrc(
                data_dir=PurePosixPath(net.root / "frontend"), control_socket=None, user=None
            )
        ),
    )
    wait_bootstrapped(front_tor)
    ob_log = tmp_path / "onionbalance.log"
    onionbalance = start_onionbalance(frontend, front_tor, ob_log)
    env = backend_env(runtime, master)
    apps = [start_source_app(b, env, tmp_path / f"{b.name}.log") for b in backends]
    client = net.start_client("source")
    run = Run(backends)
    worker = threading.Thread(target=submit_until_stopped, args=(client, master, run))
    first, survivor = backends
    try:
        wait_answering(client, master, ob_log)
        worker.start()
        deadline = time.monotonic() + RUN_DEADLINE / 2
        while min(run.took(b.name) for b in backends) < EACH_BACKEND_BEFORE_KILL:
            assert (
                time.monotonic() < deadline and len(run.acknowledged) < MAX_SOURCES_BEFORE_KILL
            ), f"one backend took every source: {run.taken}"
            assert worker.is_alive()
            time.sleep(0.5)
        taken_before_kill = [run.took(b.name) for b in backends]
        acknowledged_before_kill = len(run.acknowledged)

        # The first backend goes away while sources are sending: its app and its tor,
        # killed (a seized or failed machine says no goodbye).
        kill(apps[0])
        assert first.node.tor.proc is not None
        first.node.tor.proc.kill()
        run.killed.set()
        survivor_before = run.took(survivor.name)
        deadline = time.monotonic() + RUN_DEADLINE / 2
        while run.after_kill < ACKNOWLEDGED_AFTER_KILL:
            assert time.monotonic() < deadline, f"no answer after the kill: {run.failures[-10:]}"
            assert worker.is_alive()
            time.sleep(0.5)
    finally:
        run.stop.set()
        if worker.is_alive():
            worker.join(timeout=REQUEST_TIMEOUT * 4)
        for proc in apps:
            kill(proc)
        kill(onionbalance)

    print(
        f"\nacknowledged reports per backend before the kill {taken_before_kill} "
        f"({acknowledged_before_kill} in all); {run.after_kill} acknowledged after, "
        f"{run.took(survivor.name) - survivor_before} of them seen on the survivor; "
        f"failed attempts {len(run.failures)} {sorted(set(run.failures))}"
    )
    # Both backends took reports through the one address, and the survivor the rest.
    assert min(taken_before_kill) >= EACH_BACKEND_BEFORE_KILL
    assert run.took(survivor.name) > survivor_before
    assert run.after_kill >= ACKNOWLEDGED_AFTER_KILL
    # Every acknowledged submission is in the database and the shared store, sealed.
    assert set(run.acknowledged) <= opened_messages(runtime, workstation_keyring)
    # One chain of receipts, appended by both backends, verifies end to end.
    with runtime.session() as db:
        receipts = custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key]))
        submissions = len(db.scalars(select(Submission.id)).all())
    assert receipts >= submissions >= len(run.acknowledged)
