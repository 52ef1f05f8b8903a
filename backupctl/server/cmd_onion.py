"""`backupctl onion`: the production torrc, reviewer and SSH access keys, a health check."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path, PurePosixPath

import click

from backupctl._common import CliState
from onion import balance, clientauth
from onion.config import OnionConfig
from onion.control import connect
from onion.control import reload as reload_tor
from onion.health import ServiceHealth, check_answers, check_published
from onion.probe import private_client
from onion.torrc import (
    DEFAULT_MAX_STREAMS,
    JOURNALIST_SERVICE,
    SOURCE_SERVICE,
    SSH_SERVICE,
    ServerTorrc,
    render_server_torrc,
    verify_config,
)

TOR_BROWSER_STEPS = """\
On the reviewer's workstation, in Tor Browser:
  1. open the reviewer address above; Tor Browser shows a key icon and asks for a key;
  2. paste the private key (the part after `descriptor:x25519:`) and tick
     "Remember this key".
Or, with a system tor: save the line above as NAME.auth_private in the directory named
by ClientOnionAuthDir (mode 0700) and reload tor.
The private key opens the reviewer interface's door: carry it by hand, never by e-mail
or chat, and never store it on the server. Revoke it when the workstation is lost."""

SSH_STEPS = """\
On the admin's machine (a system tor with its SOCKS port on 127.0.0.1:9050):
  1. save the line above as NAME.auth_private in the directory named by
     ClientOnionAuthDir in that tor's torrc (mode 0700), then reload tor;
  2. ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:9050 %h %p' root@ADDRESS
     (nc from netcat-openbsd), or `torsocks ssh root@ADDRESS`; in Ansible's inventory,
     ansible_host: ADDRESS with the same ProxyCommand in ansible_ssh_common_args.
Then SSH needs no open port: leave backup_ssh_allowed_cidrs empty. Keep the private key
as carefully as the SSH key itself; revoke it when the machine is lost."""


@click.group()
def onion() -> None:
    """Tor onion services: production torrc, reviewer and SSH access keys, health."""


@onion.command("torrc")
@click.option("--data-dir", default="/var/lib/tor", show_default=True)
@click.option("--services-dir", default="/var/lib/tor/backup", show_default=True)
@click.option("--source-target", default="127.0.0.1:8080", show_default=True)
@click.option("--journalist-target", default="127.0.0.1:8081", show_default=True)
@click.option("--control-socket", default="/run/tor/control", show_default=True)
@click.option("--user", default="debian-tor", show_default=True, help="'' to omit User.")
@click.option("--max-streams", default=DEFAULT_MAX_STREAMS, show_default=True, type=int)
@click.option("--ssh-target", help="Also serve SSH (port 22) to authorized admins: 127.0.0.1:22.")
@click.option(
    "--client-socket",
    help="A unix SOCKS socket for the time-stamp requests only (e.g. /run/tor/socks).",
)
@click.option(
    "--federation-target",
    help="Also serve the federation endpoint to peer instances (client auth): 127.0.0.1:8082."
    " Needs --client-socket.",
)
@click.option(
    "--client-auth-dir",
    help="tor's ClientOnionAuthDir: the keys that open peers' federation services.",
)
@click.option(
    "--onionbalance-instance",
    is_flag=True,
    help="A backend behind `backupctl onion balance`: its ob_config must exist first.",
)
@click.option(
    "--journalist/--no-journalist",
    default=True,
    help="Serve the reviewer interface (one server only when balanced).",
)
@click.option("--verify/--no-verify", default=True, help="Check it with tor --verify-config.")
def torrc(
    data_dir: str,
    services_dir: str,
    source_target: str,
    journalist_target: str,
    control_socket: str,
    user: str,
    max_streams: int,
    ssh_target: str | None,
    client_socket: str | None,
    federation_target: str | None,
    client_auth_dir: str | None,
    onionbalance_instance: bool,
    journalist: bool,
    verify: bool,
) -> None:
    """Print the server's torrc (both apps as v3 onion services)."""
    text = render_server_torrc(
        ServerTorrc(
            data_dir=PurePosixPath(data_dir),
            services_dir=PurePosixPath(services_dir),
            source_target=source_target,
            journalist_target=journalist_target,
            control_socket=PurePosixPath(control_socket) if control_socket else None,
            max_streams=max_streams,
            user=user or None,
            ssh_target=ssh_target or None,
            client_socket=PurePosixPath(client_socket) if client_socket else None,
            federation_target=federation_target or None,
            client_auth_dir=PurePosixPath(client_auth_dir) if client_auth_dir else None,
            onionbalance_instance=onionbalance_instance,
            journalist_service=journalist,
        )
    )
    if verify:
        verify_config(text)
        click.echo("tor --verify-config: configuration is valid", err=True)
    click.echo(text, nl=False)


def _service_dir(config: OnionConfig, name: str, given: Path | None) -> Path:
    return given if given is not None else config.onion_dir / name


def _reload(config: OnionConfig, control: Path | None) -> None:
    """Make tor reread authorized_clients/ and publish new descriptors."""
    socket_path = control or config.tor_control_socket
    if not config.production and control is None:
        click.echo("Development: restart `backupctl run` for the change to take effect.")
        return
    reload_tor(socket_path)
    click.echo("tor reloaded: the service's descriptor is being republished.")


_service_dir_option = click.option(
    "--service-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The service's HiddenServiceDir (default: from the configuration).",
)
_control_option = click.option(
    "--control",
    type=click.Path(dir_okay=False, path_type=Path),
    help="tor's control socket (default: $BACKUP_TOR_CONTROL_SOCKET in production).",
)


@onion.group("reviewer")
def reviewer() -> None:
    """Client-authorization keys: who may open the reviewer onion service."""


@onion.group("ssh")
def ssh() -> None:
    """Client-authorization keys: who may reach the admin SSH onion service."""


def _client_key_commands(
    group: click.Group, service: str, who: str, steps: str, address_format: str
) -> None:
    """add / revoke / list for one client-authorized service (the same files, the same
    reload: onion.clientauth), each group with its own words for its own users."""

    @group.command("add")
    @click.argument("name")
    @_service_dir_option
    @_control_option
    @click.pass_obj
    def add(state: CliState, name: str, service_dir: Path | None, control: Path | None) -> None:
        """Create a key pair for NAME; print its private half once."""
        config = state.onion()
        directory = _service_dir(config, service, service_dir)
        address = clientauth.onion_address(directory)
        key = clientauth.add_client(directory, name)
        _reload(config, control)
        click.echo("")
        click.secho(f"{who} key {name!r} installed. Give this line to {name} ONLY:", bold=True)
        click.echo("")
        click.echo(clientauth.auth_private_line(address, key))
        click.echo("")
        click.echo(f"{who} address: {address_format.format(address=address)}")
        click.echo(steps.replace("NAME", name).replace("ADDRESS", address))

    @group.command("revoke")
    @click.argument("name")
    @_service_dir_option
    @_control_option
    @click.pass_obj
    def revoke(state: CliState, name: str, service_dir: Path | None, control: Path | None) -> None:
        """Remove NAME's key: it no longer opens the service."""
        config = state.onion()
        clientauth.revoke_client(_service_dir(config, service, service_dir), name)
        click.echo(f"{who} key {name!r} removed.")
        _reload(config, control)

    @group.command("list")
    @_service_dir_option
    @click.pass_obj
    def list_keys(state: CliState, service_dir: Path | None) -> None:
        """The names whose keys open the service."""
        clients = clientauth.list_clients(_service_dir(state.onion(), service, service_dir))
        if not clients:
            click.echo(f"No {who.lower()} keys: nobody can open this service.")
        for client in clients:
            click.echo(f"{client.name}\t{client.public_b32}")


_client_key_commands(
    reviewer, JOURNALIST_SERVICE, "Reviewer", TOR_BROWSER_STEPS, "http://{address}/"
)
_client_key_commands(ssh, SSH_SERVICE, "SSH", SSH_STEPS, "{address} port 22")


@onion.command("health")
@click.option(
    "--services-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Parent of the HiddenServiceDirs (default: from the configuration).",
)
@_control_option
@click.option(
    "--socks",
    help="A Tor SOCKS port (127.0.0.1:PORT) to check through; default: a private Tor client.",
)
@click.option(
    "--probe-torrc",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Extra torrc lines for the private client (bridges, a test network).",
)
@click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="Seconds for the whole check (the private client's start included).",
)
@click.pass_obj
def health(
    state: CliState,
    services_dir: Path | None,
    control: Path | None,
    socks: str | None,
    probe_torrc: Path | None,
    timeout: float,
) -> None:
    """Is each service's descriptor published, and does it answer through Tor?

    --timeout is one deadline for everything: a check that has not answered when its
    share of the time is spent counts as failed, so the command returns in time even
    when the network never answers.
    """
    config = state.onion()
    deadline = time.monotonic() + timeout
    with contextlib.ExitStack() as stack:
        if socks:
            proxy = _parse_socks(socks)
        else:
            click.echo("Starting a private Tor client to check through the network...")
            extra = probe_torrc.read_text() if probe_torrc else ""
            # Half the time at most: the checks must keep time of their own.
            proxy = stack.enter_context(
                private_client(extra, timeout=timeout / 2, tor_binary=config.tor_binary)
            )
        results = _check_services(
            services_dir or config.onion_dir, control or config.tor_control_socket, proxy, deadline
        )
    _report(results)


def _share(deadline: float, checks_left: int) -> float:
    """This check's share of the time left: a check that never answers leaves the
    others theirs."""
    return max(deadline - time.monotonic(), 0.0) / checks_left


def _check_services(
    parent: Path, control: Path, proxy: tuple[str, int], deadline: float
) -> list[ServiceHealth]:
    results: list[ServiceHealth] = []
    names = (SOURCE_SERVICE, JOURNALIST_SERVICE)
    checks_left = 2 * len(names)  # published, then answers, for each
    with connect(control) as controller:
        for name in names:
            address = clientauth.onion_address(parent / name)
            published, detail = check_published(controller, address, _share(deadline, checks_left))
            checks_left -= 1
            locked = name == JOURNALIST_SERVICE
            answers, answer_detail = check_answers(
                proxy, address, timeout=_share(deadline, checks_left), client_auth=locked
            )
            checks_left -= 1
            if locked and not clientauth.is_locked(parent / name):
                answers, answer_detail = False, "NO client authorization: the service is PUBLIC"
            results.append(ServiceHealth(name, address, published, detail, answers, answer_detail))
    return results


def _report(results: list[ServiceHealth]) -> None:
    for result in results:
        mark = "OK  " if result.healthy else "FAIL"
        click.echo(f"{mark} {result.name}: {result.address}")
        click.echo(
            f"     published: {'yes' if result.published else 'NO'} - {result.published_detail}"
        )
        click.echo(f"     answers:   {_yes_no(result.answers)} - {result.answers_detail}")
    if not all(result.healthy for result in results):
        raise click.exceptions.Exit(1)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _parse_socks(value: str) -> tuple[str, int]:
    host, _sep, port = value.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise click.BadParameter("must be 127.0.0.1:PORT (a local Tor SOCKS port)")
    return host, int(port)


BALANCE_STEPS = """\
Next steps (docs/cluster.md, "Onion front"):
  1. on each backend: backupctl onion balance instance --master {address}
     then its torrc from `backupctl onion torrc --onionbalance-instance` (one backend
     keeps --journalist, the others --no-journalist), and reload its tor;
  2. here: backupctl onion balance backends --dir {directory} BACKEND.onion ...
     with each backend's own address (its source HiddenServiceDir/hostname);
  3. start onionbalance: systemctl enable --now onionbalance.
Sources use {address} only. The master key in {directory} IS that address: back it up
offline; whoever copies it can publish that address."""

_frontend_dir_option = click.option(
    "--dir",
    "directory",
    default="/etc/onionbalance",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="onionbalance's directory: master.key and config.yaml.",
)


@onion.group("balance")
def balance_group() -> None:
    """One source address over several backends (onionbalance frontend files)."""


@balance_group.command("init")
@_frontend_dir_option
def balance_init(directory: Path) -> None:
    """Create the frontend's master key: the one public source address."""
    frontend = balance.create_frontend(directory)
    click.echo(f"Master key written to {frontend.key_file} (mode 600).")
    click.echo(f"Source address: {frontend.address}")
    click.echo(BALANCE_STEPS.format(address=frontend.address, directory=directory))


@balance_group.command("backends")
@_frontend_dir_option
@click.argument("addresses", nargs=-1, required=True)
def balance_backends(directory: Path, addresses: tuple[str, ...]) -> None:
    """Write config.yaml: the backends whose introduction points the frontend publishes."""
    frontend = balance.write_frontend_config(directory, addresses)
    click.echo(f"{frontend.config_file}: {len(frontend.instances)} backend(s) behind")
    click.echo(f"  {frontend.address}")
    for address in frontend.instances:
        click.echo(f"  - {address}")
    click.echo("Reload onionbalance (systemctl reload onionbalance) to use them.")


@balance_group.command("address")
@_frontend_dir_option
def balance_address(directory: Path) -> None:
    """Print the source address the frontend's master key stands for."""
    click.echo(balance.load_frontend(directory).address)


@balance_group.command("instance")
@click.option("--master", required=True, help="The frontend's (source) onion address.")
@click.option(
    "--service-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The source service's HiddenServiceDir (default: from the configuration).",
)
@click.pass_obj
def balance_instance(state: CliState, master: str, service_dir: Path | None) -> None:
    """On a backend: write ob_config, so its tor answers for the frontend's address."""
    directory = _service_dir(state.onion(), SOURCE_SERVICE, service_dir)
    path = balance.write_instance_config(directory, master)
    click.echo(f"{path} written: MasterOnionAddress {balance.normalize_address(master)}")
    click.echo(
        "Now render this server's torrc with `backupctl onion torrc "
        "--onionbalance-instance` and reload tor; the backend's own address "
        f"({directory}/hostname) goes to `backupctl onion balance backends`."
    )


@balance_group.command("frontend-torrc")
@click.option("--data-dir", default="/var/lib/tor", show_default=True)
@click.option("--control-socket", default="/run/tor/control", show_default=True)
@click.option("--user", default="debian-tor", show_default=True, help="'' to omit User.")
@click.option("--verify/--no-verify", default=True, help="Check it with tor --verify-config.")
def balance_frontend_torrc(data_dir: str, control_socket: str, user: str, verify: bool) -> None:
    """Print the frontend host's torrc (tor for onionbalance, no service of its own)."""
    text = balance.render_frontend_torrc(
        balance.FrontendTorrc(
            data_dir=PurePosixPath(data_dir),
            control_socket=PurePosixPath(control_socket),
            user=user or None,
        )
    )
    if verify:
        verify_config(text)
        click.echo("tor --verify-config: configuration is valid", err=True)
    click.echo(text, nl=False)
