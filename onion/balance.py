"""One onion address over N backends: the files of onionbalance (Debian's `onionbalance`).

The frontend holds the service's master key and publishes the one public source address;
its descriptor lists the introduction points of every backend's own onion service. Each
backend runs its own tor, its own `backupctl serve source` and worker, on the shared
PostgreSQL, Redis and sealed store. A client picks an introduction point from the
frontend's descriptor, so its circuit ends on one of the backends; a backend that goes
away leaves the others' introduction points (and onionbalance drops its own from the next
descriptor).

We use onionbalance rather than our own descriptor publisher: it is the Tor Project's
tool for exactly this, packaged by Debian, and tor (>= 0.4.3) has the backend half built
in (`HiddenServiceOnionbalanceInstance`). This module writes only its files:

- on the frontend, a directory (0700) holding the master key `master.key` (0600, PEM
  PKCS#8 Ed25519, onionbalance's own "OBv3" format, never printed) and `config.yaml`
  (the backends' addresses), and the frontend tor's torrc (a control socket for
  onionbalance, no onion service of its own, no SOCKS);
- on each backend, `ob_config` (`MasterOnionAddress ...`) inside the source service's
  HiddenServiceDir, and `HiddenServiceOnionbalanceInstance 1` in its torrc
  (`onion.torrc.ServerTorrc.onionbalance_instance`).

The master key is the source address itself: whoever holds it can publish a descriptor
for that address. It is created here with O_EXCL in a 0700 directory, never overwritten,
and its mode is checked at every load, as the services' own keys are by tor.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

from onion.errors import TorConfigError
from onion.torrc import DEFAULT_CONTROL_SOCKET, DEFAULT_DATA_DIR

__all__ = [
    "CONFIG_FILE",
    "MASTER_KEY_FILE",
    "OB_CONFIG_FILE",
    "Frontend",
    "FrontendTorrc",
    "create_frontend",
    "load_frontend",
    "master_key_address",
    "normalize_address",
    "render_frontend_config",
    "render_frontend_torrc",
    "render_instance_config",
    "write_frontend_config",
    "write_instance_config",
]

MASTER_KEY_FILE = "master.key"
CONFIG_FILE = "config.yaml"
# The file tor reads in a HiddenServiceDir when HiddenServiceOnionbalanceInstance is on.
OB_CONFIG_FILE = "ob_config"
# onionbalance-config's own limit for v3 (2 introduction points of each backend go into
# the frontend's one descriptor, which has room for a bounded number).
MAX_INSTANCES = 8
_ADDRESS_RE = re.compile(r"^[a-z2-7]{56}$")
_SECRET_MODE = 0o600
_DIR_MODE = 0o700


@dataclass(frozen=True)
class Frontend:
    """A frontend's directory and the public source address its master key stands for."""

    directory: Path
    address: str  # with ".onion"
    instances: tuple[str, ...] = ()

    @property
    def key_file(self) -> Path:
        return self.directory / MASTER_KEY_FILE

    @property
    def config_file(self) -> Path:
        return self.directory / CONFIG_FILE


def normalize_address(text: str) -> str:
    """A v3 onion address, checksum verified, as `<56 chars>.onion`."""
    bare = text.strip().lower().removeprefix("http://").rstrip("/").removesuffix(".onion")
    if not _ADDRESS_RE.fullmatch(bare):
        raise TorConfigError(f"not a v3 onion address: {text!r}")
    try:
        HiddenServiceDescriptorV3.identity_key_from_address(bare)
    except ValueError as exc:
        raise TorConfigError(f"not a v3 onion address (bad checksum): {text!r}") from exc
    return f"{bare}.onion"


def _address_of(key: Ed25519PrivateKey) -> str:
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return normalize_address(HiddenServiceDescriptorV3.address_from_identity_key(public))


def _check_private_dir(directory: Path) -> None:
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise TorConfigError(f"{directory} is not a directory")
    if info.st_mode & 0o077:
        raise TorConfigError(
            f"{directory} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
            "it holds the master onion key; chmod 700 it"
        )


def _check_instances(instances: list[str] | tuple[str, ...], master: str) -> tuple[str, ...]:
    addresses = tuple(normalize_address(address) for address in instances)
    if not addresses:
        raise TorConfigError("onionbalance needs at least one backend address")
    if len(addresses) > MAX_INSTANCES:
        raise TorConfigError(f"at most {MAX_INSTANCES} backends behind one address")
    if len(set(addresses)) != len(addresses):
        raise TorConfigError("a backend address is listed twice")
    if master in addresses:
        raise TorConfigError("the frontend's own address cannot be one of its backends")
    return addresses


def create_frontend(directory: Path) -> Frontend:
    """A new master key in `directory` (created 0700): the source address. Refuses to
    replace an existing key: a new key would be a new source address, the old one dead.
    The backends come later (`write_frontend_config`), once their own tor made their
    addresses."""
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(directory, _DIR_MODE)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(
            directory / MASTER_KEY_FILE,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
            _SECRET_MODE,
        )
    except FileExistsError as exc:
        raise TorConfigError(
            f"{directory / MASTER_KEY_FILE} exists: it IS the source address; "
            "change the backends with `backupctl onion balance backends`"
        ) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    frontend = load_frontend(directory)
    if frontend.address != _address_of(key):
        raise TorConfigError(f"{frontend.key_file} does not read back as written")
    return frontend


def master_key_address(pem: bytes, name: str = "the master key") -> str:
    """The source address a master key (onionbalance's PEM PKCS#8 Ed25519) stands for."""
    try:
        key = load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise TorConfigError(f"{name} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise TorConfigError(f"{name} is not an Ed25519 key")
    return _address_of(key)


def load_frontend(directory: Path) -> Frontend:
    """The frontend in `directory`: its key (mode checked) and its backends."""
    _check_private_dir(directory)
    key_file = directory / MASTER_KEY_FILE
    try:
        info = key_file.lstat()
    except FileNotFoundError as exc:
        raise TorConfigError(f"no master key in {directory}") from exc
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
        raise TorConfigError(
            f"{key_file} must be a regular file of mode 600 (is {stat.S_IMODE(info.st_mode):o})"
        )
    address = master_key_address(key_file.read_bytes(), str(key_file))
    instances: tuple[str, ...] = ()
    config_file = directory / CONFIG_FILE
    if config_file.exists():
        data = yaml.safe_load(config_file.read_text()) or {}
        services = data.get("services") or []
        if len(services) != 1 or services[0].get("key") != MASTER_KEY_FILE:
            raise TorConfigError(f"{config_file} is not one service on {MASTER_KEY_FILE}")
        listed = [str(item["address"]) for item in services[0].get("instances") or []]
        instances = _check_instances(listed, address)
    return Frontend(directory, address, instances)


def write_frontend_config(directory: Path, instances: list[str] | tuple[str, ...]) -> Frontend:
    """Replace the backends of an existing frontend (the key stays)."""
    current = load_frontend(directory)
    frontend = Frontend(directory, current.address, _check_instances(instances, current.address))
    _write_config(frontend)
    return frontend


def render_frontend_config(address: str, instances: list[str] | tuple[str, ...]) -> str:
    """config.yaml, as onionbalance-config writes it: one service, its key relative to
    the file, each backend without ".onion" (addresses checked)."""
    master = normalize_address(address)
    return _config_text(Frontend(Path("."), master, _check_instances(instances, master)))


def _write_config(frontend: Frontend) -> None:
    """config.yaml (render_frontend_config), written beside, then renamed."""
    text = _config_text(frontend)
    partial = frontend.config_file.with_suffix(".yaml.new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, frontend.config_file)


def _config_text(frontend: Frontend) -> str:
    data = {
        "services": [
            {
                "key": MASTER_KEY_FILE,
                "instances": [
                    {"address": address.removesuffix(".onion"), "name": f"backend{index}"}
                    for index, address in enumerate(frontend.instances, start=1)
                ],
            }
        ]
    }
    return (
        "# onionbalance configuration of the BackUp source address "
        f"{frontend.address}.\n# Generated by `backupctl onion balance`; "
        "edit the backends with it, not by hand.\n" + yaml.safe_dump(data, sort_keys=False)
    )


def render_instance_config(master_address: str) -> str:
    """A backend's `ob_config`: the frontend's address (checked)."""
    return f"MasterOnionAddress {normalize_address(master_address)}\n"


def write_instance_config(service_dir: Path, master_address: str) -> Path:
    """`ob_config` in a backend's source HiddenServiceDir: tor then also answers
    introductions made for the frontend's address. The directory is created 0700 (tor's
    own rule for a HiddenServiceDir) when missing."""
    text = render_instance_config(master_address)
    service_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    path = service_dir / OB_CONFIG_FILE
    partial = service_dir / f".{OB_CONFIG_FILE}.new"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, _SECRET_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)
    return path


@dataclass(frozen=True)
class FrontendTorrc:
    """The frontend host's tor: a Tor client for onionbalance, reached over a control
    socket; it serves no onion service itself and offers no SOCKS port.

    `control_socket` None: the caller's tor already has its own (the test network's)."""

    data_dir: PurePosixPath = DEFAULT_DATA_DIR
    control_socket: PurePosixPath | None = DEFAULT_CONTROL_SOCKET
    user: str | None = "debian-tor"


def _plain_path(value: PurePosixPath, what: str) -> str:
    text = str(value)
    if not value.is_absolute() or not re.fullmatch(r"[A-Za-z0-9_./-]+", text):
        raise TorConfigError(f"{what} must be an absolute path of plain characters: {text!r}")
    return text


def render_frontend_torrc(settings: FrontendTorrc) -> str:
    """The frontend's torrc: no SOCKS, no relaying, no onion service of its own."""
    if settings.user is not None and not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", settings.user):
        raise TorConfigError(f"invalid user name {settings.user!r}")
    lines = [
        "# BackUp onionbalance frontend: tor for onionbalance only. Generated by",
        "# `backupctl onion balance frontend-torrc`; edit the generator (onion/balance.py).",
        f"DataDirectory {_plain_path(settings.data_dir, 'data_dir')}",
        *([f"User {settings.user}"] if settings.user else []),
        # onionbalance talks to tor over the control socket only: nobody needs SOCKS here.
        "SocksPort 0",
        "ORPort 0",
        "DirPort 0",
        "ExitRelay 0",
        "ExitPolicy reject *:*",
        "SafeLogging 1",
        "Log notice syslog",
    ]
    if settings.control_socket is not None:
        socket = _plain_path(settings.control_socket, "control_socket")
        # onionbalance fetches the backends' descriptors and posts the frontend's through
        # this socket; cookie authentication, the cookie readable by tor's group (the
        # onionbalance user joins it), as in Debian's own tor defaults.
        lines += [
            f"ControlSocket {socket} RelaxDirModeCheck",
            "ControlSocketsGroupWritable 1",
            "CookieAuthentication 1",
            f"CookieAuthFile {socket}.authcookie",
            "CookieAuthFileGroupReadable 1",
        ]
    return "\n".join(lines) + "\n"
