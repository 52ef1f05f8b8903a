"""Development: both apps as onion services of a tor that `backupctl run` owns.

tor runs with its own data directory in the instance (`<instance>/tor`: the consensus
it caches there makes the next start faster) and a control socket with cookie auth.
The services are ephemeral (ADD_ONION) but their keys are not: each key is saved in
`<instance>/onion/<name>/` on first start and given back to tor afterwards, so the
addresses stay the same across restarts. `<name>/hostname` is written as tor would
write it for a HiddenServiceDir, so `backupctl onion reviewer add` works the same way in
development and in production; the reviewer service gets its authorized_clients/ keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stem import ControllerError
from stem.response import convert
from stem.response.add_onion import AddOnionResponse

from onion import clientauth
from onion.errors import TorStartError
from onion.tor import TorProcess
from onion.torrc import DEFAULT_MAX_STREAMS, JOURNALIST_SERVICE, SOURCE_SERVICE

__all__ = ["Bootstrap", "DevOnionServices", "PublishedService", "dev_ports", "parse_bootstrap"]

KEY_FILE = "ed25519_v3.key"
_MAX_SOCKET_PATH = 107
_FIELD = re.compile(r'([A-Z]+)=("(?:[^"\\]|\\.)*"|\S+)')


@dataclass(frozen=True)
class PublishedService:
    name: str
    address: str
    port: int
    client_auth: bool


@dataclass(frozen=True)
class Bootstrap:
    """How far tor got in joining the Tor network (`GETINFO status/bootstrap-phase`)."""

    progress: int
    summary: str
    # tor's own account of a problem ("Connection refused", "No route to host"...), when
    # it recommends telling the user: tor sets RECOMMENDATION=warn once a failure is not
    # a passing one (at once for a bridge, after repeated failures otherwise).
    warning: str | None = None

    @property
    def done(self) -> bool:
        return self.progress >= 100


def parse_bootstrap(phase: str) -> Bootstrap:
    """`NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="..." [WARNING="..." ...]`."""
    fields = {
        key: value[1:-1].replace('\\"', '"') if value.startswith('"') else value
        for key, value in _FIELD.findall(phase)
    }
    progress = int(fields["PROGRESS"]) if fields.get("PROGRESS", "").isdigit() else 0
    warning = None
    if phase.startswith("WARN") and fields.get("RECOMMENDATION") == "warn":
        warning = fields.get("WARNING") or fields.get("REASON") or "unknown problem"
    return Bootstrap(progress, fields.get("SUMMARY", ""), warning)


def _read_key(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not text.startswith("ED25519-V3:") or "\n" in text or " " in text:
        raise TorStartError(f"{path} does not hold an ED25519-V3 onion key")
    return text


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class DevOnionServices:
    """A tor of our own and the two services on it; `stop()` ends both."""

    def __init__(
        self,
        onion_dir: Path,
        tor_dir: Path,
        extra_torrc: str = "",
        tor_binary: str | None = None,
    ) -> None:
        self.onion_dir = onion_dir
        self.tor = TorProcess(tor_dir, tor_binary)
        self.extra_torrc = extra_torrc
        if len(str(self.tor.control_socket).encode()) > _MAX_SOCKET_PATH:
            raise TorStartError(
                f"{self.tor.control_socket} is too long for a unix socket: "
                "use a shorter instance directory"
            )

    def start(self, ports: Mapping[str, int], timeout: float = 60.0) -> list[PublishedService]:
        """Start tor and publish one service per (name -> local port)."""
        # No SOCKS port: this tor serves; visitors use their own Tor Browser.
        self.tor.start({"SocksPort": "0"}, extra=self.extra_torrc, timeout=timeout)
        try:
            return [self._publish(name, port) for name, port in ports.items()]
        except BaseException:
            self.stop()
            raise

    def _publish(self, name: str, port: int) -> PublishedService:
        self.onion_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory = self.onion_dir / name
        directory.mkdir(mode=0o700, exist_ok=True)
        key_path = directory / KEY_FILE
        key = _read_key(key_path)
        args = [key or "NEW:ED25519-V3", f"Port=80,127.0.0.1:{port}"]
        args += [f"MaxStreams={DEFAULT_MAX_STREAMS}", "PoWDefensesEnabled=1"]
        flags = ["MaxStreamsCloseCircuit"]
        client_auth = name == JOURNALIST_SERVICE
        if client_auth:
            # Never public, even before the first reviewer key: the lock key nobody holds.
            clientauth.lock(directory)
            flags.append("V3Auth")
            auth_dir = directory / clientauth.AUTHORIZED_CLIENTS
            for auth in sorted(auth_dir.glob("*.auth")):
                args.append(f"ClientAuthV3={auth.read_text().strip().rsplit(':', 1)[-1]}")
        args.append(f"Flags={','.join(flags)}")
        try:
            reply = self.tor.controller().msg("ADD_ONION " + " ".join(args))
            convert("ADD_ONION", reply)
        except ControllerError as exc:
            raise TorStartError(f"tor refused the {name} onion service: {exc}") from exc
        if not isinstance(reply, AddOnionResponse) or not reply.service_id:
            raise TorStartError(f"tor refused the {name} onion service: {reply}")
        if key is None:
            if not reply.private_key:
                raise TorStartError("tor returned no key for a new onion service")
            _write_secret(key_path, f"{reply.private_key_type}:{reply.private_key}")
        address = f"{reply.service_id}.onion"
        (directory / "hostname").write_text(address + "\n")
        return PublishedService(name, address, port, client_auth)

    def bootstrap(self) -> Bootstrap:
        """tor's progress in joining the network: the services are only reachable, and
        only published, once it is done."""
        return parse_bootstrap(self.tor.controller().get_info("status/bootstrap-phase"))

    def stop(self) -> None:
        self.tor.stop()


def dev_ports(source_port: int, journalist_port: int) -> dict[str, int]:
    return {SOURCE_SERVICE: source_port, JOURNALIST_SERVICE: journalist_port}
