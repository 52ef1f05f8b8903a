"""The onion services of `backupctl run`: a tor of its own, addresses printed.

Never fatal: without tor (or with BACKUP_DEV_TOR=0, or when tor fails) the apps keep
running on 127.0.0.1 and the message says why.
"""

from __future__ import annotations

import shlex
from contextlib import ExitStack

import click

from onion.config import OnionConfig
from onion.dev import DevOnionServices, dev_ports
from onion.errors import OnionError, TorNotFoundError
from vault.config import Config

LOCAL_ONLY = "Both interfaces listen on 127.0.0.1 only"
TOR_START_TIMEOUT_SECONDS = 60.0


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
        "publishes them as onion services (keys kept in the instance):"
    )
    click.echo(f"  Source interface (onion):   http://{by_name['source'].address}/")
    click.echo(f"  Reviewer interface (onion): http://{by_name['journalist'].address}/")
    click.echo("  The reviewer service needs a client key; create one with")
    click.echo(f"    backupctl --instance {instance} onion reviewer add NAME")
    click.echo("  then restart `backupctl run`. Publication takes a minute on the Tor network.")
