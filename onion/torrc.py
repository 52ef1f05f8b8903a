"""The production torrc: one v3 onion service per app, the reviewer one behind client auth,
and optionally the admin's SSH as a third service, also behind client auth.

Rendering is pure (a dataclass in, text out) so the ansible role and the tests render the
same file; `verify_config` then asks tor itself whether it accepts it. Every value that
ends up in the file is checked first: a newline in a path would let a caller inject any
option (a SocksPort on 0.0.0.0, a non-anonymous mode...) into the server's Tor.
"""

from __future__ import annotations

import re
import subprocess  # nosec B404
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from onion.errors import TorConfigError, TorNotFoundError
from onion.tor import find_tor

__all__ = [
    "FEDERATION_SERVICE",
    "JOURNALIST_SERVICE",
    "SOURCE_SERVICE",
    "SSH_SERVICE",
    "ServerTorrc",
    "render_server_torrc",
    "verify_config",
]

SOURCE_SERVICE = "source"
JOURNALIST_SERVICE = "journalist"
SSH_SERVICE = "ssh"
# Other instances (federation/): client-authorized, one key per peer instance.
FEDERATION_SERVICE = "federation"
# Concurrent streams one rendezvous circuit may open. A page with its stylesheet needs a
# handful; a client opening hundreds is flooding, and its circuit is closed.
DEFAULT_MAX_STREAMS = 20
# Introductions each introduction point lets through per second, and in one burst
# (tor's own defaults, stated so that they are a decision, not an accident). A service
# has 3 introduction points: 75 new circuits a second at most reach the server, far
# above what sources need (a few an hour), low enough that a flood costs the server
# bounded rendezvous work. Lower values would not help: the intro point drops
# introductions blindly, so a flood would crowd real visitors out of a smaller budget;
# PoW (below) is what lets real visitors through a flood, at the server.
DEFAULT_INTRO_DOS_RATE = 25
DEFAULT_INTRO_DOS_BURST = 200
DEFAULT_DATA_DIR = PurePosixPath("/var/lib/tor")
DEFAULT_SERVICES_DIR = PurePosixPath("/var/lib/tor/backup")
DEFAULT_CONTROL_SOCKET = PurePosixPath("/run/tor/control")
_TARGET_RE = re.compile(r"^(127\.0\.0\.1:\d{1,5}|unix:/[A-Za-z0-9_./-]+)$")
_VERIFY_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ServerTorrc:
    """What varies between servers; everything else is fixed policy in the renderer.

    `source_target` / `journalist_target` are where tor forwards each service's port 80:
    `127.0.0.1:PORT` or `unix:/path` (never another interface). `ssh_target`, when set,
    adds the admin's SSH (port 22) as a client-authorized service: the server then needs
    no SSH port open to any network.
    """

    data_dir: PurePosixPath = DEFAULT_DATA_DIR
    services_dir: PurePosixPath = DEFAULT_SERVICES_DIR
    source_target: str = "127.0.0.1:8080"
    journalist_target: str = "127.0.0.1:8081"
    control_socket: PurePosixPath | None = DEFAULT_CONTROL_SOCKET
    max_streams: int = DEFAULT_MAX_STREAMS
    pow_defenses: bool = True
    intro_dos_rate: int = DEFAULT_INTRO_DOS_RATE
    intro_dos_burst: int = DEFAULT_INTRO_DOS_BURST
    # Debian starts tor as root and it drops to this user; None when already unprivileged.
    user: str | None = "debian-tor"
    ssh_target: str | None = None
    # A unix SOCKS socket for the server's one outgoing request, the time-stamps of the
    # chains (`backupctl custody anchor`): None keeps the server no Tor client at all.
    client_socket: PurePosixPath | None = None
    # Federation with peer instances (docs/federation.md): `federation_target` serves
    # our federation endpoint as a client-authorized service; `client_auth_dir` holds
    # the keys that open the peers' services (ClientOnionAuthDir). Outgoing envelopes go
    # through `client_socket`, which federation therefore needs.
    federation_target: str | None = None
    client_auth_dir: PurePosixPath | None = None
    # A backend behind an onionbalance frontend (onion/balance.py): the source service
    # also answers introductions for the frontend's address, named in its ob_config.
    onionbalance_instance: bool = False
    # The reviewer interface stays on one server: the other backends of a balanced
    # source address leave it out (docs/cluster.md).
    journalist_service: bool = True

    def service_dir(self, name: str) -> PurePosixPath:
        if name not in (SOURCE_SERVICE, JOURNALIST_SERVICE, SSH_SERVICE, FEDERATION_SERVICE):
            raise TorConfigError(f"unknown onion service {name!r}")
        return self.services_dir / name


def _path(value: PurePosixPath, what: str) -> str:
    text = str(value)
    if not value.is_absolute() or not re.fullmatch(r"[A-Za-z0-9_./-]+", text):
        raise TorConfigError(f"{what} must be an absolute path of plain characters: {text!r}")
    return text


def _user(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        raise TorConfigError(f"invalid user name {value!r}")
    return value


def _target(value: str, what: str) -> str:
    if not _TARGET_RE.fullmatch(value):
        raise TorConfigError(f"{what} must be 127.0.0.1:PORT or unix:/PATH, got {value!r}")
    if value.startswith("127.") and not 0 < int(value.rsplit(":", 1)[1]) < 65536:
        raise TorConfigError(f"{what}: port out of range")
    return value


def _service_block(
    settings: ServerTorrc,
    name: str,
    target: str,
    *,
    client_auth: bool,
    port: int = 80,
    export_circuit_id: bool = True,
    onionbalance_instance: bool = False,
) -> list[str]:
    lines = [
        "",
        f"# {name} interface"
        + (": v3 client authorization, keys in authorized_clients/" if client_auth else ""),
        f"HiddenServiceDir {_path(settings.service_dir(name), 'services_dir')}",
        "HiddenServiceVersion 3",
        f"HiddenServicePort {port} {target}",
        f"HiddenServiceMaxStreams {settings.max_streams}",
        # Close the whole circuit of a client that exceeds the limit, not just the stream.
        "HiddenServiceMaxStreamsCloseCircuit 1",
        # Proof-of-work at the introduction: under a flood, clients that pay more CPU are
        # served first, so real visitors still get in (tor >= 0.4.8).
        f"HiddenServicePoWDefensesEnabled {int(settings.pow_defenses)}",
        # Rate limits at the introduction points (see DEFAULT_INTRO_DOS_RATE).
        "HiddenServiceEnableIntroDoSDefense 1",
        f"HiddenServiceEnableIntroDoSRatePerSec {settings.intro_dos_rate}",
        f"HiddenServiceEnableIntroDoSBurstPerSec {settings.intro_dos_burst}",
    ]
    if export_circuit_id:
        # Each connection starts with a PROXY line naming its circuit
        # (fc00:dead:beef:4dad::…): the apps' REMOTE_ADDR, so that throttles count per
        # circuit, not per "127.0.0.1" (web_shared/serving.py accepts the line from
        # 127.0.0.1 only).
        lines.append("HiddenServiceExportCircuitID haproxy")
    if onionbalance_instance:
        # Introductions made for the frontend's address (its ob_config) are ours too.
        lines.append("HiddenServiceOnionbalanceInstance 1")
    return lines


def _socks_port(client_socket: PurePosixPath | None) -> str:
    if client_socket is None:
        return "SocksPort 0"
    # RelaxDirModeCheck: Debian makes /run/tor 2755 (see the control socket below).
    return f"SocksPort unix:{_path(client_socket, 'client_socket')} GroupWritable RelaxDirModeCheck"


def render_server_torrc(settings: ServerTorrc) -> str:
    """The server's torrc: onion services only, no client traffic, never non-anonymous."""
    if not 1 <= settings.max_streams <= 65535:
        raise TorConfigError("max_streams must be between 1 and 65535")
    # 0 would mean "no limit" to tor: the defence would be on in name only.
    if not 1 <= settings.intro_dos_rate <= settings.intro_dos_burst <= 0x7FFFFFFF:
        raise TorConfigError("intro DoS rate and burst must be positive, rate <= burst")
    lines = [
        "# BackUp production Tor configuration. Generated by `backupctl onion torrc`;",
        "# edit the generator (onion/torrc.py), not this file.",
        f"DataDirectory {_path(settings.data_dir, 'data_dir')}",
        *([f"User {_user(settings.user)}"] if settings.user else []),
        # The server is no Tor client for anyone (but its own time-stamp requests, over a
        # unix socket of tor's group, when asked for): no TCP SOCKS, no relaying, no exit.
        _socks_port(settings.client_socket),
        "ORPort 0",
        "DirPort 0",
        "ExitRelay 0",
        "ExitPolicy reject *:*",
        # Both off explicitly: single-hop services would reveal the server's address.
        "HiddenServiceSingleHopMode 0",
        "HiddenServiceNonAnonymousMode 0",
        # Addresses and onion names never reach the log.
        "SafeLogging 1",
        "Log notice syslog",
    ]
    if settings.client_auth_dir is not None:
        # The keys that open our peers' federation services (never our own services').
        lines.append(f"ClientOnionAuthDir {_path(settings.client_auth_dir, 'client_auth_dir')}")
    if settings.control_socket is not None:
        # For `backupctl onion health` and reviewer key reloads: a unix socket, cookie
        # authentication, never a TCP control port. RelaxDirModeCheck as in Debian's own
        # defaults: its unit makes /run/tor 2755 at every start, and without the flag
        # tor refuses to open the socket there ("Permissions on directory /run/tor are
        # too permissive") and runs on without one. The socket itself stays 0660.
        lines += [
            f"ControlSocket {_path(settings.control_socket, 'control_socket')} RelaxDirModeCheck",
            "ControlSocketsGroupWritable 1",
            "CookieAuthentication 1",
        ]
    lines += _service_block(
        settings,
        SOURCE_SERVICE,
        _target(settings.source_target, "source_target"),
        client_auth=False,
        onionbalance_instance=settings.onionbalance_instance,
    )
    if settings.journalist_service:
        lines += _service_block(
            settings,
            JOURNALIST_SERVICE,
            _target(settings.journalist_target, "journalist_target"),
            client_auth=True,
        )
    if settings.ssh_target is not None:
        lines += _service_block(
            settings,
            SSH_SERVICE,
            _target(settings.ssh_target, "ssh_target"),
            client_auth=True,
            port=22,
            export_circuit_id=False,  # sshd speaks no PROXY protocol
        )
    if settings.federation_target is not None:
        if settings.client_socket is None:
            raise TorConfigError("federation needs client_socket: envelopes leave through it")
        lines += _service_block(
            settings,
            FEDERATION_SERVICE,
            _target(settings.federation_target, "federation_target"),
            client_auth=True,
        )
    return "\n".join(lines) + "\n"


def verify_config(torrc: str, tor_binary: str | None = None) -> str:
    """Run `tor --verify-config` on `torrc`; returns tor's output, raises if rejected.

    `--defaults-torrc /dev/null`: the file must stand on its own, not lean on the
    distribution's defaults.
    """
    binary = find_tor(tor_binary)
    with tempfile.TemporaryDirectory(prefix="backup-torrc-") as tmp:
        path = Path(tmp) / "torrc"
        path.write_text(torrc)
        try:
            result = subprocess.run(  # nosec B603
                [binary, "--verify-config", "--defaults-torrc", "/dev/null", "-f", str(path)],
                capture_output=True,
                text=True,
                timeout=_VERIFY_TIMEOUT_SECONDS,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TorNotFoundError(f"{binary} not found") from exc
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise TorConfigError(f"tor rejected the configuration:\n{output.strip()}")
    return output
