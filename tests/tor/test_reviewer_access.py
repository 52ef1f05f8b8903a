"""The reviewer service is an authenticated onion service: a Tor client without a key is
refused by tor itself (0xF4), a key made by `backupctl onion reviewer add` opens it, and
`reviewer revoke` closes it again. Health reports both services through the network."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from backupctl.cli import main
from composition.runtime import Runtime
from onion.socks import SocksError, fetch_status
from onion.torrc import JOURNALIST_SERVICE
from tests.tor.conftest import OnionServices, wait_for_answer
from tests.tor.network import Node, TorNetwork

REFUSED_CODES = (0xF4, 0xF5)  # client authorization missing / wrong


def _status_or_code(client: Node, host: str) -> int:
    """The HTTP status through `client`, or tor's SOCKS error code (0xF0-0xF7)."""
    assert client.socks_port is not None
    try:
        return fetch_status("127.0.0.1", client.socks_port, host, "/login", timeout=30).status
    except SocksError as exc:
        return exc.code


def _wait_for(client: Node, host: str, wanted: tuple[int, ...]) -> int:
    return wait_for_answer(client, lambda: _status_or_code(client, host), wanted)


def _cli(instance: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--instance", str(instance), "onion", *args])
    assert result.exit_code == 0, result.output
    return result.output


class TestReviewerClientAuthorization:
    """Only workstations holding a current key reach the reviewer interface."""

    def test_refused_without_key_served_with_it_and_revoked(
        self,
        served_apps: Runtime,
        onion_services: OnionServices,
        probe: Node,
        tor_net: TorNetwork,
        tmp_path: Path,
    ) -> None:
        host = onion_services.journalist_host
        service_dir = str(onion_services.service_dir(JOURNALIST_SERVICE))
        control = str(onion_services.node.tor.control_socket)
        instance = served_apps.config.instance_dir

        # The anonymous visitor: tor refuses before any byte reaches the app.
        assert _wait_for(probe, host, REFUSED_CODES) == 0xF4
        # ... while the source service is open to the same client.
        assert _wait_for(probe, onion_services.source_host, (200,)) == 200

        added = _cli(
            instance, "reviewer", "add", "alice-laptop",
            "--service-dir", service_dir, "--control", control,
        )  # fmt: skip
        line = next(
            text for text in added.splitlines() if text.startswith(host.removesuffix(".onion"))
        )
        assert line.count(":") == 3 and ":descriptor:x25519:" in line
        assert "Tor Browser" in added
        # The private half is printed, never kept on the server.
        private = line.rsplit(":", 1)[1]
        for path in Path(service_dir, "authorized_clients").iterdir():
            assert private not in path.read_text()
        assert "alice-laptop" in _cli(instance, "reviewer", "list", "--service-dir", service_dir)

        # The reviewer's tor, with the printed line as its .auth_private file.
        reviewer = tor_net.start_client(
            f"reviewer{time.monotonic_ns() % 100000}", {"alice-laptop": line}
        )
        assert _wait_for(reviewer, host, (200,)) == 200
        assert _wait_for(probe, host, REFUSED_CODES) == 0xF4

        _cli(
            instance, "reviewer", "revoke", "alice-laptop",
            "--service-dir", service_dir, "--control", control,
        )  # fmt: skip
        assert "alice-laptop" not in _cli(
            instance, "reviewer", "list", "--service-dir", service_dir
        )
        # The same workstation, same key: refused once its tor fetches the new descriptor.
        assert _wait_for(reviewer, host, REFUSED_CODES) in REFUSED_CODES
        reviewer.tor.stop()
