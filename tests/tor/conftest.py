"""The private Tor network (once per session), the service tor running the production
torrc, and both apps served for real behind it. Everything on 127.0.0.1.

The service tor forwards to two ports fixed for the session; each test serves its own
apps (on its own runtime: SQLite or PostgreSQL) on those ports for its duration.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

import pytest
import requests

from composition.runtime import Runtime
from onion import clientauth
from onion.errors import OnionError
from onion.torrc import (
    JOURNALIST_SERVICE,
    SOURCE_SERVICE,
    SSH_SERVICE,
    ServerTorrc,
    render_server_torrc,
)
from tests.support.servers import free_port
from tests.support.serving import serve_app
from tests.tor.network import Node, TorNetwork, retry, tor_network

FETCH_DEADLINE = 120.0
T = TypeVar("T")
PUBLISH_TIMEOUT = 120.0
NEWNYM_EVERY = 3


@dataclass
class OnionServices:
    """The service tor (production torrc) and what a test needs to reach it."""

    node: Node
    settings: ServerTorrc
    source_port: int
    journalist_port: int
    ssh_port: int
    # One entry per descriptor upload (address without .onion), for the whole session.
    uploads: list[str]

    def service_dir(self, name: str) -> Path:
        return Path(self.settings.service_dir(name))

    @property
    def source_host(self) -> str:
        return clientauth.onion_address(self.service_dir(SOURCE_SERVICE))

    @property
    def journalist_host(self) -> str:
        return clientauth.onion_address(self.service_dir(JOURNALIST_SERVICE))

    @property
    def ssh_host(self) -> str:
        return clientauth.onion_address(self.service_dir(SSH_SERVICE))


@pytest.fixture(scope="session")
def tor_net() -> Iterator[TorNetwork]:
    with tor_network() as net:
        print(f"\nprivate Tor network ready in {net.started_seconds:.1f}s")
        yield net


@pytest.fixture(scope="session")
def onion_services(tor_net: TorNetwork) -> OnionServices:
    """A service tor configured by `render_server_torrc`, as a server would be."""
    data_dir = tor_net.root / "service"
    settings = ServerTorrc(
        data_dir=PurePosixPath(data_dir),
        services_dir=PurePosixPath(data_dir / "hs"),
        source_target=f"127.0.0.1:{free_port()}",
        journalist_target=f"127.0.0.1:{free_port()}",
        control_socket=None,  # the TorProcess puts its own in the data directory
        user=None,
        ssh_target=f"127.0.0.1:{free_port()}",  # the admin's SSH (backup_ssh_onion)
    )
    # As the ansible role does before tor's first start: the reviewer and SSH services
    # are never public, not even before the first key exists.
    clientauth.lock(Path(settings.service_dir(JOURNALIST_SERVICE)))
    clientauth.lock(Path(settings.service_dir(SSH_SERVICE)))
    node = tor_net.start_node("service", {}, extra=render_server_torrc(settings))
    uploaded = tor_net.watch_uploads(node)
    services = OnionServices(
        node=node,
        settings=settings,
        source_port=int(settings.source_target.rsplit(":", 1)[1]),
        journalist_port=int(settings.journalist_target.rsplit(":", 1)[1]),
        ssh_port=int(str(settings.ssh_target).rsplit(":", 1)[1]),
        uploads=uploaded,
    )
    wanted = {
        services.source_host.removesuffix(".onion"),
        services.journalist_host.removesuffix(".onion"),
        services.ssh_host.removesuffix(".onion"),
    }
    deadline = time.monotonic() + PUBLISH_TIMEOUT
    while not wanted <= set(uploaded):
        if time.monotonic() > deadline:
            pytest.fail(f"descriptors not uploaded in {PUBLISH_TIMEOUT}s:\n{node.tor.log_tail()}")
        time.sleep(0.25)
    return services


@pytest.fixture(scope="session")
def probe(tor_net: TorNetwork) -> Node:
    """A Tor client with no client-authorization keys (an anonymous visitor)."""
    return tor_net.node("probe")


def served_env(runtime: Runtime, onion_services: OnionServices) -> dict[str, str]:
    """The environment a production server gives `backupctl serve`, on this test's
    runtime (its instance directory, database and Redis)."""
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
        BACKUP_SOURCE_ONION_HOST=onion_services.source_host,
        BACKUP_JOURNALIST_ONION_HOST=onion_services.journalist_host,
        BACKUP_DEV_TOR="0",
    )
    return env


@pytest.fixture
def served_apps(
    runtime: Runtime, onion_services: OnionServices, tmp_path: Path
) -> Iterator[Runtime]:
    """Both apps on this test's runtime, on the ports the onion services forward to,
    served as production serves them (`backupctl serve`, production mode): each answers
    only for its own onion Host (and localhost), and sees tor's PROXY line."""
    env = served_env(runtime, onion_services)
    with (
        serve_app("source", onion_services.source_port, env, tmp_path / "source.log"),
        serve_app("journalist", onion_services.journalist_port, env, tmp_path / "journalist.log"),
    ):
        yield runtime


def tor_session(client: Node) -> requests.Session:
    """requests through the client's SOCKS port; socks5h: tor resolves the .onion."""
    session = requests.Session()
    proxy = f"socks5h://127.0.0.1:{client.socks_port}"
    session.proxies = {"http": proxy, "https": proxy}
    return session


def newnym(client: Node) -> None:
    """Fresh circuits and a purged onion descriptor cache on the client."""
    client.controller().signal("NEWNYM")


def onion_get(
    session: requests.Session, client: Node, url: str, deadline: float = FETCH_DEADLINE
) -> requests.Response:
    """GET through Tor, retrying while the descriptor is not yet on the directories."""

    def on_failure(failures: int) -> None:
        if failures % NEWNYM_EVERY == 0:
            newnym(client)

    return retry(
        lambda: session.get(url, timeout=30, allow_redirects=False),
        deadline=time.monotonic() + deadline,
        on_failure=on_failure,
    )


def wait_for_answer(client: Node, ask: Callable[[], T], wanted: tuple[T, ...]) -> T:
    """Ask again (fresh circuits, descriptor cache purged) until an answer in `wanted`:
    a service republishes its descriptor after each reload, the client must refetch it."""
    deadline = time.monotonic() + FETCH_DEADLINE
    seen: list[object] = []
    while time.monotonic() < deadline:
        try:
            answer = ask()
        except (OnionError, OSError) as exc:
            seen.append(type(exc).__name__)
        else:
            if answer in wanted:
                return answer
            seen.append(answer)
        newnym(client)
        time.sleep(1.0)
    raise AssertionError(f"never got {wanted}; saw {seen[-10:]}")
