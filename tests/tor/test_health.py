"""`backupctl onion health`: descriptors fetched back from the network, and an HTTP
request through a Tor client, for both services; a service whose app is down fails."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backupctl.cli import main
from composition.runtime import Runtime
from onion.tor import torrc_text
from onion.torrc import JOURNALIST_SERVICE, SOURCE_SERVICE
from tests.support.servers import free_port
from tests.tor.conftest import OnionServices
from tests.tor.network import Node, TorNetwork

# What the deadline may overrun by: process start-up, stopping a private tor.
SLACK_SECONDS = 6.0


def _health(
    instance: Path,
    services: OnionServices,
    probe: Node | None,
    probe_torrc: Path | None = None,
    *,
    services_dir: Path | None = None,
    timeout: int = 60,
) -> tuple[int, str]:
    """`backupctl onion health` through `probe`'s SOCKS port, or through its own client."""
    via = (
        ["--socks", f"127.0.0.1:{probe.socks_port}"]
        if probe is not None
        else ["--probe-torrc", str(probe_torrc)]
    )
    result = CliRunner().invoke(
        main,
        [
            "--instance", str(instance), "onion", "health",
            "--services-dir", str(services_dir or services.settings.services_dir),
            "--control", str(services.node.tor.control_socket),
            "--timeout", str(timeout),
            *via,
        ],
    )  # fmt: skip
    # Only the report: the served apps' request log shares the captured stderr.
    report = [line for line in result.output.splitlines() if line.startswith(("OK", "FAIL", " "))]
    return result.exit_code, "\n".join(report)


class TestHealth:
    """What an operator runs on the server to know the services are reachable."""

    def test_both_services_published_and_answering(
        self, served_apps: Runtime, onion_services: OnionServices, probe: Node
    ) -> None:
        # The first request after start-up may still wait for a fresh descriptor fetch:
        # the deadline covers it; one retry keeps the test honest yet not flaky.
        code, output = _health(served_apps.config.instance_dir, onion_services, probe)
        if code != 0:
            code, output = _health(served_apps.config.instance_dir, onion_services, probe)
        assert code == 0, output
        source, journalist = output.splitlines()[0], output.splitlines()[3]
        assert source == f"OK   source: {onion_services.source_host}"
        assert journalist == f"OK   journalist: {onion_services.journalist_host}"
        assert output.count("published: yes") == 2
        assert "answers:   yes - HTTP 200" in output
        assert "refused without a client key (0xF4)" in output

    def test_a_service_whose_app_is_down_fails(
        self, tmp_path: Path, onion_services: OnionServices, probe: Node
    ) -> None:
        # No app serves the forwarded ports in this test: tor reaches the server, the
        # server's tor finds nothing listening.
        (tmp_path / "instance").mkdir()  # the server's instance, with no app running
        code, output = _health(tmp_path / "instance", onion_services, probe)
        assert code == 1, output
        assert output.startswith(f"FAIL source: {onion_services.source_host}")
        assert "published: yes" in output
        assert "answers:   NO" in output

    def test_without_a_socks_port_it_brings_its_own_tor_client(
        self,
        served_apps: Runtime,
        onion_services: OnionServices,
        tor_net: TorNetwork,
        tmp_path: Path,
    ) -> None:
        # The server's tor has no SOCKS port: health starts a private client, here joined
        # to the test network by extra torrc lines, and stops it afterwards.
        probe_torrc = tmp_path / "probe.torrc"
        probe_torrc.write_text(torrc_text(tor_net.base_options()))
        code, output = _health(served_apps.config.instance_dir, onion_services, None, probe_torrc)
        if code != 0:  # a first fetch may race the consensus: one more try
            code, output = _health(
                served_apps.config.instance_dir, onion_services, None, probe_torrc
            )
        assert code == 0, output
        assert output.count("published: yes") == 2
        assert "answers:   yes - HTTP 200" in output
        assert "refused without a client key (0xF4)" in output
        assert _probe_tors() == []  # its client tor is gone


def _unpublished_services(parent: Path) -> Path:
    """Service directories holding valid v3 addresses that no tor ever published."""
    for name in (SOURCE_SERVICE, JOURNALIST_SERVICE):
        public = (
            Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        checksum = hashlib.sha3_256(b".onion checksum" + public + b"\x03").digest()[:2]
        address = base64.b32encode(public + checksum + b"\x03").decode().lower()
        (parent / name).mkdir(parents=True)
        (parent / name / "hostname").write_text(f"{address}.onion\n")
    return parent


class TestHealthDeadline:
    """--timeout is the whole command's deadline, whatever the network does."""

    def test_an_unreachable_onion_fails_within_the_timeout(
        self, tmp_path: Path, onion_services: OnionServices, probe: Node
    ) -> None:
        # Every check waits for an answer that never comes (the directories keep saying
        # NOT_FOUND): 4 checks of --timeout each took 4 times as long.
        (tmp_path / "instance").mkdir()
        unpublished = _unpublished_services(tmp_path / "services")
        started = time.monotonic()
        code, output = _health(
            tmp_path / "instance", onion_services, probe, services_dir=unpublished, timeout=12
        )
        took = time.monotonic() - started
        assert code == 1, output
        assert output.count("published: NO") == 2, output
        assert took < 12 + SLACK_SECONDS, f"{took:.1f}s\n{output}"

    def test_a_private_client_that_cannot_bootstrap_gives_up_within_the_timeout(
        self, tmp_path: Path, onion_services: OnionServices
    ) -> None:
        dead_bridge = tmp_path / "probe.torrc"
        dead_bridge.write_text(f"UseBridges 1\nBridge 127.0.0.1:{free_port()}\n")
        (tmp_path / "instance").mkdir()
        started = time.monotonic()
        result = CliRunner().invoke(
            main,
            [
                "--instance", str(tmp_path / "instance"), "onion", "health",
                "--services-dir", str(onion_services.settings.services_dir),
                "--control", str(onion_services.node.tor.control_socket),
                "--probe-torrc", str(dead_bridge),
                "--timeout", "10",
            ],
        )  # fmt: skip
        took = time.monotonic() - started
        assert result.exit_code == 1, result.output
        assert "did not bootstrap" in result.output
        assert took < 10 + SLACK_SECONDS, f"{took:.1f}s\n{result.output}"
        assert _probe_tors() == []


def _probe_tors() -> list[int]:
    """Running tors started by onion.probe (their torrc lies in a backup-probe- dir);
    other tors on the machine (the test network, other runs) are not counted."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "tor":
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"/backup-probe-" in arg for arg in argv):
                pids.append(int(entry.name))
    return pids
