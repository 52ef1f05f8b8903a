"""The onion services of `backupctl run`: a tor of its own, addresses printed.

Never fatal: without tor (or with BACKUP_DEV_TOR=0, or when tor fails) the apps keep
running on 127.0.0.1 and the message says why. tor accepts the services before it has
reached the Tor network, and publishes them only once it has: a watcher follows its
bootstrap and says, in the console, when it is connected, or that it cannot reach the
network and where its log is. Without that, a machine with no Internet (or where Tor
is blocked) printed onion addresses nobody could ever reach, and said nothing.
"""

from __future__ import annotations

import shlex
import threading
import time
from contextlib import ExitStack

import click
from stem import ControllerError

from backupctl._common import backupctl_command
from onion.config import OnionConfig
from onion.dev import Bootstrap, DevOnionServices, dev_ports
from onion.errors import OnionError, TorNotFoundError
from vault.config import Config

LOCAL_ONLY = "Both interfaces listen on 127.0.0.1 only"
TOR_START_TIMEOUT_SECONDS = 60.0
# Without a word from tor about a problem, no full bootstrap in this long is one: tor on
# a machine without a network may just retry quietly. A working first bootstrap takes
# 5-30 s; with a cached consensus in <instance>/tor, a few seconds.
BOOTSTRAP_STALL_SECONDS = 90.0
_POLL_SECONDS = 1.0


def start_dev_onion_services(config: Config, onion: OnionConfig, stack: ExitStack) -> None:
    if not onion.dev_tor:
        click.echo(f"{LOCAL_ONLY} (BACKUP_DEV_TOR is off: no onion services).")
        return
    extra = ""
    if onion.dev_torrc is not None:
        # Bridges, or a private test network: lines appended to the torrc we write.
        extra = onion.dev_torrc.read_text()
    try:
        services = DevOnionServices(
            onion.onion_dir, config.instance_dir / "tor", extra, onion.tor_binary
        )
        published = services.start(
            dev_ports(config.source_port, config.journalist_port), TOR_START_TIMEOUT_SECONDS
        )
    except TorNotFoundError:
        click.secho(
            f"{LOCAL_ONLY}: tor is not installed, so there are no onion services. "
            "Install it (apt-get install tor, or `bash scripts/run.sh` does it) and restart.",
            fg="yellow",
        )
        return
    except OnionError as exc:
        click.secho(f"{LOCAL_ONLY}: tor failed ({exc}); no onion services.", fg="yellow")
        return
    stack.callback(services.stop)
    instance = shlex.quote(str(config.instance_dir))
    by_name = {service.name: service for service in published}
    click.echo(
        f"{LOCAL_ONLY}; tor (pid {services.tor.proc.pid if services.tor.proc else '?'}) "
        "publishes them as onion services once it has reached the Tor network "
        "(keys kept in the instance):"
    )
    click.echo(f"  Source interface (onion):   http://{by_name['source'].address}/")
    click.echo(f"  Reviewer interface (onion): http://{by_name['journalist'].address}/")
    click.echo("  The reviewer service needs a client key; create one with")
    click.echo(f"    {backupctl_command()} --instance {instance} onion reviewer add NAME")
    click.echo("  then restart `backupctl run`.")
    click.echo(f"  tor's log: {services.tor.log_file}")
    watch = BootstrapWatch(services)
    watch.start()
    stack.callback(watch.stop)  # before services.stop (an ExitStack unwinds backwards)


class BootstrapWatch(threading.Thread):
    """Follows tor's bootstrap and says, once each, that it connected or cannot."""

    def __init__(self, services: DevOnionServices, stall_seconds: float = BOOTSTRAP_STALL_SECONDS):
        super().__init__(name="tor-bootstrap-watch", daemon=True)
        self.services = services
        self.stall_seconds = stall_seconds
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)

    def run(self) -> None:
        started = time.monotonic()
        complained = False
        while not self._stopping.is_set():
            try:
                state = self.services.bootstrap()
            except (ControllerError, OnionError, OSError):
                if not self._stopping.is_set():
                    self._say_tor_gone()
                return
            if state.done:
                self._say_connected(complained)
                return
            stalled = time.monotonic() - started > self.stall_seconds
            if not complained and (state.warning or stalled):
                self._say_unreachable(state)
                complained = True
            self._stopping.wait(_POLL_SECONDS)

    def _say_connected(self, after_a_problem: bool) -> None:
        now = "now " if after_a_problem else ""
        click.echo(
            f"tor is {now}connected to the Tor network: the onion services are being "
            "published (visitors can reach them in a minute or so)."
        )

    def _say_unreachable(self, state: Bootstrap) -> None:
        why = f"{state.warning}; " if state.warning else ""
        click.secho(
            f"tor cannot reach the Tor network ({why}stuck at {state.progress}%: "
            f"{state.summary}). Nobody can reach the onion services until it does; the "
            "interfaces keep running on 127.0.0.1 and tor keeps trying.\n"
            f"  tor's log: {self.services.tor.log_file}\n"
            "  Check this machine's Internet connection; where Tor is blocked, put bridge "
            "lines (UseBridges 1, Bridge ...) in a file named by BACKUP_DEV_TORRC and "
            "restart.",
            fg="yellow",
        )

    def _say_tor_gone(self) -> None:
        click.secho(
            "tor stopped: no onion services; the interfaces keep running on 127.0.0.1.\n"
            f"  tor's log: {self.services.tor.log_file}",
            fg="yellow",
        )
