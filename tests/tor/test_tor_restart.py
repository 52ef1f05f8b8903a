"""The onion-serving tor restarted (as `systemctl restart tor` or a crash and systemd's
restart would): the product behind it keeps running, the service comes back at the same
address by itself, and a submission over Tor works again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
import requests

from onion import clientauth
from onion.torrc import JOURNALIST_SERVICE, SOURCE_SERVICE, ServerTorrc, render_server_torrc
from tests.support.faults import (
    Outcome,
    Sent,
    Visitor,
    assert_acknowledged_intact,
    assert_no_plaintext,
    instance_root,
    running_product,
    sweep_and_assert_consistent,
)
from tests.support.reliability import record
from tests.support.servers import RedisServer
from tests.tor.conftest import FETCH_DEADLINE, newnym, tor_session
from tests.tor.network import Node, TorNetwork, retry

pytestmark = pytest.mark.reliability
MARKER = "TOR-RESTART-MARKER-5a70"
NICKNAME = "restartsvc"


@pytest.fixture
def instance() -> Iterator[Path]:
    yield from instance_root()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _published(uploads: list[str], address: str) -> None:
    deadline = time.monotonic() + FETCH_DEADLINE
    while address.removesuffix(".onion") not in uploads:
        assert time.monotonic() < deadline, "descriptor not uploaded after the restart"
        time.sleep(0.25)


def _submit_over_tor(over_tor: Visitor, probe: Node, text: str) -> Outcome:
    """A new source over Tor, retried (fresh circuits) while the service is not yet
    reachable; returns its acknowledged submission."""

    def attempt() -> Outcome:
        visitor = Visitor(over_tor.product, over_tor.base_url, tor_session(probe)).start()
        outcome = visitor.submit(Sent(text.encode()))
        assert outcome.acknowledged, outcome
        return outcome

    def on_failure(failures: int) -> None:
        if failures % 3 == 0:
            newnym(probe)

    return retry(attempt, deadline=time.monotonic() + FETCH_DEADLINE, on_failure=on_failure)


def test_service_tor_restarted(
    instance: Path, tmp_path: Path, own_redis: RedisServer, tor_net: TorNetwork, probe: Node
) -> None:
    with running_product(instance, tmp_path, redis_url=own_redis.url) as product:
        data_dir = tor_net.root / NICKNAME
        settings = ServerTorrc(
            data_dir=PurePosixPath(data_dir),
            services_dir=PurePosixPath(data_dir / "hs"),
            source_target=f"127.0.0.1:{product.source_port}",
            journalist_target=f"127.0.0.1:{product.journalist_port}",
            control_socket=None,
            user=None,
        )
        clientauth.lock(Path(settings.service_dir(JOURNALIST_SERVICE)))
        node = tor_net.start_node(NICKNAME, {}, extra=render_server_torrc(settings))
        uploads = tor_net.watch_uploads(node)
        address = clientauth.onion_address(Path(settings.service_dir(SOURCE_SERVICE)))
        _published(uploads, address)
        over_tor = Visitor(product, f"http://{address}", tor_session(probe))
        before = _submit_over_tor(over_tor, probe, f"{MARKER} before the restart")

        node.tor.stop()
        down = requests.Session()
        down.proxies = tor_session(probe).proxies
        with pytest.raises(requests.RequestException):
            # Tor Browser shows its own "onion site unreachable" page: nothing answers.
            down.get(f"http://{address}/", timeout=30)
        restarted = time.monotonic()
        options = {**tor_net.base_options(), "Nickname": NICKNAME}
        node.tor.start(options, extra=render_server_torrc(settings))
        uploads = tor_net.watch_uploads(node)
        _published(uploads, address)
        published_s = time.monotonic() - restarted
        after = _submit_over_tor(over_tor, probe, f"{MARKER} after the restart")
        back_s = time.monotonic() - restarted

        assert clientauth.onion_address(Path(settings.service_dir(SOURCE_SERVICE))) == address
        acknowledged = assert_acknowledged_intact(product, [before, after])
        sweep_and_assert_consistent(product)
        assert_no_plaintext(product, MARKER, data_dir)
        node.tor.stop()
    record(
        "onion-serving tor restarted",
        {
            "user_saw_while_down": "no answer (Tor Browser's own unreachable page)",
            "same_onion_address": True,
            "descriptor_published_after_restart_s": round(published_s, 1),
            "submission_over_tor_works_after_s": round(back_s, 1),
            "acknowledged": acknowledged,
            "acknowledged_lost": 0,
        },
    )
