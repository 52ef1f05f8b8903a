"""A private Tor network on 127.0.0.1, built the way Tor's own `chutney` builds one.

Three directory authorities (keys from `tor-gencert`), four relays that carry no exit
traffic (`ExitRelay 0`: nothing can leave the network, and onion services need no exit),
a service tor running the production torrc, and clients with a SOCKS port. Every tor
runs with `TestingTorNetwork 1` and short voting intervals, is owned by the test runner
(`__OwningControllerProcess`) and is stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from stem import HSDescAction
from stem.control import Controller, EventType
from stem.response.events import HSDescEvent

from onion.tor import TorProcess, TorrcValue
from tests.support.servers import free_port

AUTHORITIES = 3
RELAYS = 4
BOOTSTRAP_TIMEOUT = 120.0
T = TypeVar("T")

# A fast schedule: a consensus every 10 s by default. Vote + dist delays must stay below
# half the interval (tor halves it while there is no consensus yet).
FAST_VOTING_INTERVAL = 10
# onionbalance's test-network mode (`--is-testnet`) hard-codes chutney's 20 s interval in
# its time-period and shared-random arithmetic (hs_v3/consensus.py): a network for it
# must vote every 20 s, or its descriptors go to the wrong directories.
ONIONBALANCE_VOTING_INTERVAL = 20


def _network_options(interval: int) -> dict[str, TorrcValue]:
    delay = str(max(interval // 5, 2))
    return {
        "TestingTorNetwork": "1",
        "TestingV3AuthInitialVotingInterval": str(interval),
        "TestingV3AuthInitialVoteDelay": delay,
        "TestingV3AuthInitialDistDelay": delay,
        "V3AuthVotingInterval": str(interval),
        "V3AuthVoteDelay": delay,
        "V3AuthDistDelay": delay,
        "AssumeReachable": "1",
        "ConnLimit": "60",
        "ShutdownWaitLength": "0",
        "ProtocolWarnings": "1",
    }


@dataclass
class Node:
    name: str
    tor: TorProcess
    socks_port: int | None = None
    auth_dir: Path | None = None

    def controller(self) -> Controller:
        return self.tor.controller()


@dataclass
class TorNetwork:
    root: Path
    voting_interval: int = FAST_VOTING_INTERVAL
    dir_authorities: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    started_seconds: float = 0.0

    def base_options(self) -> dict[str, TorrcValue]:
        options = _network_options(self.voting_interval)
        return {**options, "DirAuthority": list(self.dir_authorities)}

    def start_node(self, name: str, options: dict[str, TorrcValue], extra: str = "") -> Node:
        tor = TorProcess(self.root / name)
        node = Node(name, tor)
        self.nodes.append(node)
        tor.start({**self.base_options(), "Nickname": name, **options}, extra=extra)
        return node

    def start_client(self, name: str, auth_private: Mapping[str, str] | None = None) -> Node:
        """A client with a SOCKS port whose errors carry the exact onion error code.

        `auth_private`: file name -> `.auth_private` line, installed before tor starts.
        """
        auth_dir = self.root / f"{name}-auth"
        # tor refuses to start if ClientOnionAuthDir is missing or readable by others.
        auth_dir.mkdir(mode=0o700)
        for file_name, line in (auth_private or {}).items():
            (auth_dir / f"{file_name}.auth_private").write_text(line + "\n")
        port = free_port()
        node = self.start_node(
            name,
            {
                "SocksPort": f"127.0.0.1:{port} ExtendedErrors",
                "ClientOnionAuthDir": str(auth_dir),
            },
        )
        node.socks_port, node.auth_dir = port, auth_dir
        wait_bootstrapped(node)
        return node

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def watch_uploads(self, node: Node) -> list[str]:
        """Addresses (without .onion), one entry per descriptor upload by `node`, kept
        current. Once per node: a second listener on the owning controller has made
        stem drop that connection, and tor exits when its owner goes."""
        uploaded: list[str] = []

        def on_event(event: HSDescEvent) -> None:
            if event.action == HSDescAction.UPLOADED and event.address:
                uploaded.append(event.address)

        node.controller().add_event_listener(on_event, EventType.HS_DESC)  # type: ignore[arg-type]
        return uploaded

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.tor.stop()
        self.nodes.clear()


def _authority_keys(directory: Path, dir_port: int) -> str:
    """tor-gencert: the authority's v3 identity; returns its v3ident fingerprint."""
    keys = directory / "keys"
    keys.mkdir(mode=0o700, parents=True)
    subprocess.run(
        [
            shutil.which("tor-gencert") or "/usr/bin/tor-gencert",
            "--create-identity-key",
            "-m", "12",
            "-a", f"127.0.0.1:{dir_port}",
            "-i", str(keys / "authority_identity_key"),
            "-s", str(keys / "authority_signing_key"),
            "-c", str(keys / "authority_certificate"),
            "--passphrase-fd", "0",
        ],
        input=b"\n",
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    for line in (keys / "authority_certificate").read_text().splitlines():
        if line.startswith("fingerprint "):
            return line.split()[1]
    raise RuntimeError("tor-gencert wrote no fingerprint")


def _relay_fingerprint(directory: Path, binary: str) -> str:
    """The relay identity tor will use with this data directory (created now)."""
    subprocess.run(
        [
            binary, "--quiet", "--ignore-missing-torrc", "--list-fingerprint",
            "--orport", "1",
            "--dirserver", "x 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff",
            "--datadirectory", str(directory),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return (directory / "fingerprint").read_text().split()[1]


def wait_bootstrapped(node: Node, timeout: float = BOOTSTRAP_TIMEOUT) -> None:
    controller = node.controller()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "PROGRESS=100" in controller.get_info("status/bootstrap-phase"):
            return
        time.sleep(0.25)
    raise RuntimeError(f"{node.name} did not bootstrap in {timeout}s:\n{node.tor.log_tail()}")


def retry(action: Callable[[], T], *, deadline: float, on_failure: Callable[[int], None]) -> T:
    """Call `action` until it succeeds or the deadline passes (then re-raise)."""
    failures = 0
    while True:
        try:
            return action()
        except Exception:
            failures += 1
            if time.monotonic() >= deadline:
                raise
            on_failure(failures)
            time.sleep(min(0.5 * failures, 3.0))


@contextlib.contextmanager
def tor_network(voting_interval: int = FAST_VOTING_INTERVAL) -> Iterator[TorNetwork]:
    """Authorities and relays, running, with a first consensus reached by a client."""
    started = time.monotonic()
    # A short root: tor's control sockets live in it (108-byte limit on socket paths).
    net = TorNetwork(Path(tempfile.mkdtemp(prefix="bk-tor-")), voting_interval)
    try:
        binary = TorProcess(net.root).binary
        authorities = []
        for index in range(AUTHORITIES):
            name = f"auth{index}"
            directory = net.root / name
            or_port, dir_port = free_port(), free_port()
            v3ident = _authority_keys(directory, dir_port)
            fingerprint = _relay_fingerprint(directory, binary)
            authorities.append((name, or_port, dir_port))
            net.dir_authorities.append(
                f"{name} orport={or_port} no-v2 v3ident={v3ident} "
                f"127.0.0.1:{dir_port} {fingerprint}"
            )
        for name, or_port, dir_port in authorities:
            net.start_node(
                name,
                {
                    "ORPort": f"127.0.0.1:{or_port}",
                    "DirPort": f"127.0.0.1:{dir_port}",
                    "Address": "127.0.0.1",
                    "SocksPort": "0",
                    "AuthoritativeDirectory": "1",
                    "V3AuthoritativeDirectory": "1",
                    "ContactInfo": f"{name}@test.test",
                    "ExitRelay": "0",
                    "ExitPolicy": "reject *:*",
                    # Every relay may be a guard and an onion directory at once.
                    "TestingDirAuthVoteGuard": "*",
                    "TestingDirAuthVoteHSDir": "*",
                },
            )
        for index in range(RELAYS):
            net.start_node(
                f"relay{index}",
                {
                    "ORPort": f"127.0.0.1:{free_port()}",
                    "Address": "127.0.0.1",
                    "SocksPort": "0",
                    "ExitRelay": "0",
                    "ExitPolicy": "reject *:*",
                    "ContactInfo": f"relay{index}@test.test",
                },
            )
        net.start_client("probe")
        net.started_seconds = time.monotonic() - started
        yield net
    finally:
        net.stop()
        if not os.environ.get("BACKUP_KEEP_TOR_NETWORK"):
            shutil.rmtree(net.root, ignore_errors=True)
