"""`backupctl run` with tor: it starts a tor it owns, publishes both apps as onion
services on the (private) Tor network, prints their addresses, keeps the keys in the
instance so the addresses survive a restart, and stops its tor with everything else."""

from __future__ import annotations

import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from backupctl.cli import main
from keys.gpg import kill_agent
from onion.socks import SocksError, fetch_status
from onion.tor import torrc_text
from tests.support.product import Run, alive, descendants, make_instance_root, run_env
from tests.support.servers import free_port
from tests.tor.conftest import onion_get, tor_session
from tests.tor.network import Node, TorNetwork

ADDRESS = r"http://([a-z2-7]{56}\.onion)/"


@pytest.fixture
def instance() -> Iterator[Path]:
    root = make_instance_root()
    yield root / "instance"
    kill_agent(root / "instance" / "gnupg")
    kill_agent(root / "instance" / "dev-workstation-gnupg")
    shutil.rmtree(root, ignore_errors=True)


def _addresses(output: str) -> tuple[str, str]:
    source = re.search(rf"Source interface \(onion\):\s+{ADDRESS}", output)
    reviewer = re.search(rf"Reviewer interface \(onion\):\s+{ADDRESS}", output)
    assert source and reviewer, output
    return source.group(1), reviewer.group(1)


def _tor_pids(pids: set[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}/comm").read_text().strip() == "tor"]


class TestDevelopmentRun:
    """The README's run command, with tor installed."""

    def test_onion_services_of_a_development_run(
        self, instance: Path, tmp_path: Path, tor_net: TorNetwork, probe: Node
    ) -> None:
        # The dev tor joins the private network instead of the public one.
        dev_torrc = tmp_path / "dev.torrc"
        dev_torrc.write_text(torrc_text(tor_net.base_options()))
        source_port, journalist_port = free_port(), free_port()
        env = run_env(source_port, journalist_port)
        env.update(BACKUP_DEV_TOR="1", BACKUP_DEV_TORRC=str(dev_torrc))

        run = Run(instance, env, tmp_path / "run1.log")
        try:
            run.wait_until_serving(source_port, journalist_port)
            source, reviewer = _addresses(run.output)
            assert "127.0.0.1 only; tor" in run.output
            deadline = time.monotonic() + 60
            while "tor is connected to the Tor network" not in run.output:
                assert time.monotonic() < deadline, run.output
                time.sleep(0.25)
            assert "cannot reach the Tor network" not in run.output
            key = instance / "onion" / "source" / "ed25519_v3.key"
            assert key.stat().st_mode & 0o777 == 0o600
            assert (instance / "onion" / "journalist" / "hostname").read_text().strip() == reviewer
            children = descendants(run.proc.pid)
            tors = _tor_pids(children)
            assert len(tors) == 1

            landing = onion_get(tor_session(probe), probe, f"http://{source}/")
            assert landing.status_code == 200
            assert 'href="/generate"' in landing.text
            # The reviewer service is locked from its first start, before any key exists.
            assert probe.socks_port is not None
            with pytest.raises(SocksError) as refused:
                fetch_status("127.0.0.1", probe.socks_port, reviewer, timeout=60)
            assert refused.value.code in (0xF4, 0xF0)  # missing auth (or not yet fetched)

            assert run.stop(signal.SIGTERM) == 0
        finally:
            run.kill()
        assert not [pid for pid in children if alive(pid)], run.output

        # A reviewer key made between runs is given to tor at the next start.
        added = CliRunner().invoke(
            main, ["--instance", str(instance), "onion", "reviewer", "add", "dev-laptop"]
        )
        assert added.exit_code == 0, added.output
        assert "restart `backupctl run`" in added.output
        line = next(t for t in added.output.splitlines() if t.startswith(reviewer[:-6] + ":"))

        rerun = Run(instance, env, tmp_path / "run2.log")
        try:
            rerun.wait_until_serving(source_port, journalist_port)
            assert _addresses(rerun.output) == (source, reviewer)
            laptop = tor_net.start_client("devlaptop", {"dev-laptop": line})
            login = onion_get(tor_session(laptop), laptop, f"http://{reviewer}/login")
            assert login.status_code == 200
            laptop.tor.stop()
            children = descendants(rerun.proc.pid)
            assert rerun.stop(signal.SIGINT) == 0
        finally:
            rerun.kill()
        assert not [pid for pid in children if alive(pid)], rerun.output

    def test_a_tor_that_cannot_reach_the_network_says_so_and_the_apps_keep_running(
        self, instance: Path, tmp_path: Path
    ) -> None:
        # The only way in is a bridge that nobody serves: tor can never bootstrap, as on
        # a machine without Internet or where Tor is blocked.
        dead_bridge = free_port()
        dev_torrc = tmp_path / "dev.torrc"
        dev_torrc.write_text(f"UseBridges 1\nBridge 127.0.0.1:{dead_bridge}\n")
        source_port, journalist_port = free_port(), free_port()
        env = run_env(source_port, journalist_port)
        env.update(BACKUP_DEV_TOR="1", BACKUP_DEV_TORRC=str(dev_torrc))
        run = Run(instance, env, tmp_path / "run.log")
        try:
            run.wait_until_serving(source_port, journalist_port)
            deadline = time.monotonic() + 60
            while "cannot reach the Tor network" not in run.output:
                assert time.monotonic() < deadline, run.output
                assert run.proc.poll() is None, run.output
                time.sleep(0.25)
            out = run.output
            log = instance / "tor" / "tor.log"
            assert "tor cannot reach the Tor network (Connection refused; stuck at" in out
            assert f"tor's log: {log}" in out
            assert "Problem bootstrapping" in log.read_text()  # the log it points to
            assert "connected to the Tor network" not in out
            assert "being published" not in out
            # The addresses are printed, with the condition under which they work.
            _addresses(out)
            assert "once it has reached the Tor network" in out
            # The apps keep serving on 127.0.0.1.
            assert requests.get(f"http://127.0.0.1:{source_port}/", timeout=10).status_code == 200
            assert run.proc.poll() is None
            children = descendants(run.proc.pid)
            assert len(_tor_pids(children)) == 1  # tor keeps trying
            assert run.stop(signal.SIGTERM) == 0
        finally:
            run.kill()
        assert not [pid for pid in children if alive(pid)], run.output
        assert out.count("cannot reach the Tor network") == 1  # said once, not every second

    def test_without_tor_the_apps_stay_local_with_a_clear_message(
        self, instance: Path, tmp_path: Path
    ) -> None:
        source_port, journalist_port = free_port(), free_port()
        env = run_env(source_port, journalist_port)
        env.update(BACKUP_DEV_TOR="1", BACKUP_TOR_BINARY=str(tmp_path / "no-such-tor"))
        run = Run(instance, env, tmp_path / "run.log")
        try:
            run.wait_until_serving(source_port, journalist_port)
            assert "Both interfaces listen on 127.0.0.1 only: tor is not installed" in run.output
            assert "apt-get install tor" in run.output
            assert "(onion)" not in run.output
            assert run.stop(signal.SIGTERM) == 0
        finally:
            run.kill()
