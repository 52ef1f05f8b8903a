"""Through the private Tor network, the apps' server sees which circuit a connection
comes from: the production torrc exports circuit ids (HiddenServiceExportCircuitID
haproxy) and the serving command accepts tor's PROXY line from 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.support.serving import serve_factory
from tests.tor.conftest import OnionServices, onion_get
from tests.tor.network import Node

CIRCUIT_ADDRESS = re.compile(r"^fc00:dead:beef:4dad::[0-9a-f]{1,4}:[0-9a-f]{1,4}$")


def _session(probe: Node, isolation: str) -> requests.Session:
    """A SOCKS session of its own: tor isolates streams by SOCKS credentials, so each
    such session gets its own circuit to the service."""
    session = requests.Session()
    proxy = f"socks5h://{isolation}:x@127.0.0.1:{probe.socks_port}"
    session.proxies = {"http": proxy, "https": proxy}
    return session


def test_the_app_sees_a_circuit_address_per_circuit(
    onion_services: OnionServices, probe: Node, tmp_path: Path
) -> None:
    url = f"http://{onion_services.source_host}/"
    log = tmp_path / "echo.log"
    with serve_factory("tests.support.echo_app:create_app", onion_services.source_port, log):
        first = _session(probe, "one")
        seen = [onion_get(first, probe, url).text for _ in range(2)]
        other = onion_get(_session(probe, "two"), probe, url).text
    for address in [*seen, other]:
        assert CIRCUIT_ADDRESS.fullmatch(address), address
    # One circuit, one address (kept-alive requests too); another circuit, another.
    assert seen[0] == seen[1]
    assert other != seen[0]
    # Without the PROXY line, gunicorn would have handed the app tor's own address.
    assert "127.0.0.1" not in seen
