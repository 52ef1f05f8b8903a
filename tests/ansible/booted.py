"""A Debian 12 tree booted with systemd-nspawn: a target where services really run.

systemd is the container's PID 1; the playbook reaches it through the backup_chroot
connection in its booted mode (nsenter into every namespace of that PID). The container
gets a network namespace of its own, wired to the host by a veth pair with NAT, so apt
inside reaches the Debian mirror as a server would, while everything the container
binds, and the firewall the playbook loads, stays inside that namespace: nothing of it
touches the host's loopback or its rules. All of it is undone on stop.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

NSPAWN = "/usr/bin/systemd-nspawn"
BOOT_TIMEOUT = 120.0


def _run(
    *argv: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A host command; when it fails, the message carries its stderr (ip and nft say
    there exactly what was wrong)."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    return proc


@dataclass
class Network:
    """A network namespace with one veth to the host and NAT out (undone by remove)."""

    name: str
    host_if: str
    subnet: int
    forward_before: str = ""
    table: str = ""

    @property
    def host_address(self) -> str:
        return f"10.213.{self.subnet}.1"

    @property
    def guest_address(self) -> str:
        return f"10.213.{self.subnet}.2"

    @classmethod
    def create(cls) -> Network:
        tag = secrets.token_hex(3)
        net = cls(name=f"backup-boot-{tag}", host_if=f"bkh{tag}", subnet=secrets.randbelow(250))
        guest_if = f"bkc{tag}"
        net.forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        net.table = f"backup_boot_{tag}"
        try:
            net._make(guest_if)
        except BaseException:
            net.remove()  # a half-made namespace, veth or NAT table goes too
            raise
        return net

    def _make(self, guest_if: str) -> None:
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", guest_if)
        _run("ip", "link", "set", guest_if, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        _run("ip", "-n", self.name, "addr", "add", f"{self.guest_address}/30", "dev", guest_if)
        _run("ip", "-n", self.name, "link", "set", guest_if, "up")
        _run("ip", "-n", self.name, "link", "set", "lo", "up")
        _run("ip", "-n", self.name, "route", "add", "default", "via", self.host_address)
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        rules = (
            f"table ip {self.table} {{\n"
            "  chain post {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f"    ip saddr {self.guest_address} masquerade\n"
            "  }\n"
            "}\n"
        )
        _run("nft", "-f", "-", stdin=rules)

    def remove(self) -> None:
        """Undo whatever exists of it (any step of create may have failed)."""
        _run("nft", "delete", "table", "ip", self.table, check=False)
        _run("ip", "link", "delete", self.host_if, check=False)
        _run("ip", "netns", "delete", self.name, check=False)
        if self.forward_before:
            Path("/proc/sys/net/ipv4/ip_forward").write_text(self.forward_before + "\n")

    def exists(self) -> bool:
        """Whether anything of it is left on the host (namespace, veth, NAT table)."""
        left = self.name in _run("ip", "netns", "list").stdout.split()
        left |= _run("ip", "link", "show", self.host_if, check=False).returncode == 0
        tables = _run("nft", "list", "tables", "ip", check=False).stdout.split()
        return left or self.table in tables


@dataclass
class Member:
    """One container's network namespace on a shared bridge (`Bridge`): its veth's host
    end is a port of the bridge, so the containers reach each other as hosts of one
    private network do (removed by remove; the bridge by `Bridge.remove`)."""

    name: str
    host_if: str
    guest_address: str
    host_address: str

    def remove(self) -> None:
        _run("ip", "link", "delete", self.host_if, check=False)
        _run("ip", "netns", "delete", self.name, check=False)

    def exists(self) -> bool:
        left = self.name in _run("ip", "netns", "list").stdout.split()
        return left or _run("ip", "link", "show", self.host_if, check=False).returncode == 0


@dataclass
class Bridge:
    """A private network of several containers: a bridge on the host (its address the
    gateway), NAT out for apt, one `Member` namespace per container. Undone by remove."""

    name: str
    subnet: int
    table: str
    members: list[Member] = field(default_factory=list)
    forward_before: str = ""

    @property
    def host_address(self) -> str:
        return f"10.214.{self.subnet}.1"

    @classmethod
    def create(cls, count: int) -> Bridge:
        tag = secrets.token_hex(3)
        bridge = cls(name=f"bkb{tag}", subnet=secrets.randbelow(250), table=f"backup_bridge_{tag}")
        bridge.forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        try:
            bridge._make(tag, count)
        except BaseException:
            bridge.remove()
            raise
        return bridge

    def _make(self, tag: str, count: int) -> None:
        _run("ip", "link", "add", self.name, "type", "bridge")
        _run("ip", "addr", "add", f"{self.host_address}/24", "dev", self.name)
        _run("ip", "link", "set", self.name, "up")
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        rules = (
            f"table ip {self.table} {{\n"
            "  chain post {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f"    ip saddr 10.214.{self.subnet}.0/24"
            f" ip daddr != 10.214.{self.subnet}.0/24 masquerade\n"
            "  }\n"
            "}\n"
        )
        _run("nft", "-f", "-", stdin=rules)
        for index in range(count):
            member = Member(
                name=f"backup-cl-{tag}-{index}",
                host_if=f"bkh{tag}{index}",
                guest_address=f"10.214.{self.subnet}.{10 + index}",
                host_address=self.host_address,
            )
            self.members.append(member)
            guest_if = f"bkc{tag}{index}"
            _run("ip", "netns", "add", member.name)
            _run("ip", "link", "add", member.host_if, "type", "veth", "peer", "name", guest_if)
            _run("ip", "link", "set", member.host_if, "master", self.name)
            _run("ip", "link", "set", member.host_if, "up")
            _run("ip", "link", "set", guest_if, "netns", member.name)
            address = f"{member.guest_address}/24"
            _run("ip", "-n", member.name, "addr", "add", address, "dev", guest_if)
            _run("ip", "-n", member.name, "link", "set", guest_if, "up")
            _run("ip", "-n", member.name, "link", "set", "lo", "up")
            _run("ip", "-n", member.name, "route", "add", "default", "via", self.host_address)

    def remove(self) -> None:
        for member in self.members:
            member.remove()
        _run("nft", "delete", "table", "ip", self.table, check=False)
        _run("ip", "link", "delete", self.name, check=False)
        if self.forward_before:
            Path("/proc/sys/net/ipv4/ip_forward").write_text(self.forward_before + "\n")

    def exists(self) -> bool:
        left = _run("ip", "link", "show", self.name, check=False).returncode == 0
        tables = _run("nft", "list", "tables", "ip", check=False).stdout.split()
        return left or self.table in tables or any(m.exists() for m in self.members)


@dataclass
class Booted:
    """The running container: its systemd's host PID, its network, its console log."""

    root: Path
    network: Network | Member
    nspawn: subprocess.Popen[bytes]
    log: Path
    pid: int = 0
    _stopped: bool = field(default=False, repr=False)

    def run(self, *argv: str, check: bool = True, stdin: str | None = None) -> str:
        """`argv` inside the container (all its namespaces), as root; its stdout."""
        proc = subprocess.run(
            ["nsenter", "--target", str(self.pid), "--all", "-r", "-w", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc.stdout

    def run_bytes(self, *argv: str) -> bytes:
        """`argv` inside the container, as root; its stdout as bytes (binary output)."""
        proc = subprocess.run(
            ["nsenter", "--target", str(self.pid), "--all", "-r", "-w", *argv],
            capture_output=True,
            check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
        if proc.returncode != 0:
            raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stderr[-2000:]!r}")
        return proc.stdout

    @property
    def live_root(self) -> Path:
        """The container's file system as its processes see it, tmpfs mounts included."""
        return Path(f"/proc/{self.pid}/root")

    def redis(self) -> Redis:
        """A client of the deployed Redis, through its socket, with its password."""
        password = (self.root / "etc/redis/backup-auth.conf").read_text().split()[1]
        socket = self.live_root / "run/redis/redis-server.sock"
        return Redis(unix_socket_path=str(socket), password=password)

    def in_network(self, argv: list[str], timeout: float = 120) -> str:
        """A host program run inside the container's network namespace only."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.network.name, *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        assert proc.returncode == 0, f"{argv} failed: {proc.stderr[-3000:]}"
        return proc.stdout

    def unit(self, name: str) -> dict[str, str]:
        shown = self.run(
            "systemctl", "show", name, "-p", "ActiveState,SubState,MainPID,InvocationID"
        )
        return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)

    def listening(self) -> set[str]:
        """Every TCP listener of the container, as "address:port" (from /proc/net)."""
        return self._inet("tcp", "0A")  # LISTEN

    def udp_bound(self) -> set[str]:
        """Every UDP socket of the container bound to a port, as "address:port"."""
        return self._inet("udp", "07")  # unconnected (what a UDP server holds)

    def _inet(self, protocol: str, state: str) -> set[str]:
        found: set[str] = set()
        for name in (protocol, f"{protocol}6"):
            lines = Path(f"/proc/{self.pid}/net/{name}").read_text().splitlines()[1:]
            for line in lines:
                fields = line.split()
                if fields[3] != state:
                    continue
                address, port = fields[1].split(":")
                found.add(f"{_address(address)}:{int(port, 16)}")
        return found

    def unix_listening(self) -> set[str]:
        """Every listening unix socket of the container's network namespace, by path
        ("@name" for an abstract one)."""
        found: set[str] = set()
        for line in Path(f"/proc/{self.pid}/net/unix").read_text().splitlines()[1:]:
            fields = line.split()
            # Flags __SO_ACCEPTCON (0x10000): listen() was called on it.
            if len(fields) >= 8 and int(fields[3], 16) & 0x10000:
                found.add(fields[7])
        return found

    @contextmanager
    def listener(self, address: str, port: int) -> Iterator[None]:
        """A TCP listener bound to `address`:`port` in the container's network for the
        block's duration: what a service bound there would look like from outside."""
        script = (
            "import socket, sys, time\n"
            "s = socket.socket()\n"
            "s.bind((sys.argv[1], int(sys.argv[2])))\n"
            "s.listen()\n"
            "print('listening', flush=True)\n"
            "time.sleep(600)\n"
        )
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.network.name, "python3", "-c", script, address, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            ready = proc.stdout.readline().strip()
            assert ready == "listening", f"no listener: {proc.communicate(timeout=10)[1]}"
            yield
        finally:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.nspawn.poll() is None:
                # SIGTERM asks nspawn to halt the container cleanly; SIGKILL if it hangs.
                self.nspawn.send_signal(signal.SIGTERM)
                try:
                    self.nspawn.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.nspawn.kill()
                    if self.pid:
                        os.kill(self.pid, signal.SIGKILL)
                    self.nspawn.wait(timeout=30)
        finally:
            self.network.remove()


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return ".".join(str(byte) for byte in raw[::-1])
    # IPv6 in /proc/net/tcp6: four little-endian 32-bit words.
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    joined = b"".join(words)
    groups = [f"{int.from_bytes(joined[i : i + 2], 'big'):x}" for i in range(0, 16, 2)]
    return ":".join(groups)


def boot(
    root: Path, log: Path, network: Network | Member | None = None, binds: tuple[str, ...] = ()
) -> Booted:
    """Boot `root` with its own systemd; returns once systemd reports the boot done.

    `network`: a namespace made by the caller (a `Bridge` member), else one of its own.
    `binds`: systemd-nspawn --bind values (HOST:CONTAINER), a directory several
    containers share."""
    network = network or Network.create()
    try:
        with open(log, "wb") as console:
            nspawn = subprocess.Popen(
                [
                    NSPAWN,
                    "--quiet",
                    "--directory",
                    str(root),
                    "--register=no",
                    "--keep-unit",
                    f"--network-namespace-path=/run/netns/{network.name}",
                    # The playbook loads its firewall into the container's own namespace.
                    "--capability=CAP_NET_ADMIN",
                    *(f"--bind={bind}" for bind in binds),
                    "--boot",
                    "--console=pipe",
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
            )
    except BaseException:
        network.remove()
        raise
    booted = Booted(root=root, network=network, nspawn=nspawn, log=log)
    try:
        booted.pid = _container_init(nspawn)
        state = booted.run("systemctl", "is-system-running", "--wait", check=False).strip()
        assert state in {"running", "degraded"}, f"boot ended {state}: {log.read_text()[-3000:]}"
    except BaseException:
        booted.stop()
        raise
    return booted


def _container_init(nspawn: subprocess.Popen[bytes]) -> int:
    """The host PID of the container's systemd (nspawn's child running it)."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        assert nspawn.poll() is None, "systemd-nspawn exited during boot"
        children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children")
        for child in children.read_text().split():
            comm = Path(f"/proc/{child}/comm").read_text().strip()
            # The bus socket exists once systemd is up enough to answer systemctl.
            if comm == "systemd" and Path(f"/proc/{child}/root/run/systemd/private").exists():
                return int(child)
        time.sleep(0.2)
    raise AssertionError("the container's systemd did not come up")


def http_get(booted: Booted, port: int, path: str, host: str) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path inside the container's network, with a Host."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "req = urllib.request.Request(sys.argv[1], headers={'Host': sys.argv[2]})\n"
        "try:\n"
        "    resp = urllib.request.urlopen(req, timeout=30)\n"
        "    print(json.dumps([resp.status, resp.read().decode(errors='replace')]))\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print(json.dumps([exc.code, exc.read().decode(errors='replace')]))\n"
    )
    out = booted.in_network(
        ["python3", "-c", script, f"http://127.0.0.1:{port}{path}", host], timeout=60
    )
    status, body = json.loads(out)
    return int(status), str(body)
