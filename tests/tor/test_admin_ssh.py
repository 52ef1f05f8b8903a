"""The admin's SSH as an onion service behind client authorization (backup_ssh_onion).

Over the private Tor network: a client without a key is refused by tor itself (0xF4)
before any byte reaches port 22; a key made by `backupctl onion ssh add` opens it (the
SSH version banner comes through); `ssh revoke` closes it again. The server behind port
22 here is a stand-in that sends an SSH banner: what is under test is tor's forwarding
and client authorization, the same for Debian's sshd.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from backupctl.cli import main
from onion.socks import SocksError, read_banner
from onion.torrc import SSH_SERVICE
from tests.tor.conftest import FETCH_DEADLINE, OnionServices, wait_for_answer
from tests.tor.network import Node, TorNetwork

BANNER = "SSH-2.0-BackUpTestStandIn"
REFUSED_CODES = (0xF4, 0xF5)


@pytest.fixture
def ssh_stand_in(onion_services: OnionServices) -> Iterator[None]:
    """Port 22's stand-in on 127.0.0.1: sends an SSH version banner, then closes."""
    server = socket.create_server(("127.0.0.1", onion_services.ssh_port))
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(f"{BANNER}\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _banner_or_code(client: Node, host: str) -> str | int:
    assert client.socks_port is not None
    try:
        return read_banner("127.0.0.1", client.socks_port, host, 22, timeout=30)
    except SocksError as exc:
        return exc.code


def _wait_for(client: Node, host: str, wanted: tuple[str | int, ...]) -> str | int:
    return wait_for_answer(client, lambda: _banner_or_code(client, host), wanted)


def _cli(instance: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--instance", str(instance), "onion", "ssh", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_ssh_refused_without_key_reached_with_it_and_revoked(
    onion_services: OnionServices,
    ssh_stand_in: None,
    probe: Node,
    tor_net: TorNetwork,
    tmp_path: Path,
) -> None:
    host = onion_services.ssh_host
    service_dir = str(onion_services.service_dir(SSH_SERVICE))
    control = str(onion_services.node.tor.control_socket)
    instance = tmp_path / "instance"
    instance.mkdir()  # the server's instance: commands refuse to make one up

    assert _wait_for(probe, host, REFUSED_CODES) == 0xF4

    # A descriptor's revision counter counts seconds (tor >= 0.4.1): one rebuilt by the
    # reload in the very second of the first publication is not "newer" to the HSDirs,
    # which keep the old one. On a server keys are added long after tor started.
    time.sleep(2)
    address = host.removesuffix(".onion")
    published = onion_services.uploads.count(address)
    options = ("--service-dir", service_dir, "--control", control)
    added = _cli(instance, "add", "admin-laptop", *options)
    deadline = time.monotonic() + FETCH_DEADLINE
    while onion_services.uploads.count(address) <= published:  # republished with the key
        assert time.monotonic() < deadline, "no descriptor published after the key was added"
        time.sleep(0.25)
    line = next(text for text in added.splitlines() if text.startswith(host.removesuffix(".onion")))
    assert ":descriptor:x25519:" in line
    assert "ProxyCommand" in added and f"root@{host}" in added
    private = line.rsplit(":", 1)[1]
    for path in Path(service_dir, "authorized_clients").iterdir():
        assert private not in path.read_text()
    assert "admin-laptop" in _cli(instance, "list", "--service-dir", service_dir)

    admin = tor_net.start_client(f"admin{time.monotonic_ns() % 100000}", {"admin-laptop": line})
    try:
        assert _wait_for(admin, host, (BANNER,)) == BANNER
        assert _wait_for(probe, host, REFUSED_CODES) == 0xF4

        _cli(instance, "revoke", "admin-laptop", *options)
        assert "admin-laptop" not in _cli(instance, "list", "--service-dir", service_dir)
        assert _wait_for(admin, host, REFUSED_CODES) in REFUSED_CODES
    finally:
        admin.tor.stop()
