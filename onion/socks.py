"""A minimal SOCKS5 client (RFC 1928) for the health check (one HTTP request through Tor)
and for the time-stamping client (`connect_through`).

Written out rather than taken from a library so the server needs nothing beyond the
standard library, and so the reply code is ours to read: with `ExtendedErrors` on the
SocksPort, tor answers 0xF0-0xF7 with the exact onion-service failure (0xF4: client
authorization missing), which a generic proxy library folds into "connection failed".
The host name goes to tor as a name (socks5h): never resolved locally.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from onion.errors import OnionError

__all__ = [
    "ONION_ERRORS",
    "OnionFetch",
    "SocksError",
    "connect_through",
    "fetch_status",
    "read_banner",
]

ONION_ERRORS = {
    0xF0: "onion service descriptor cannot be found",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service needs client authorization",
    0xF5: "onion service client authorization is wrong",
    0xF6: "onion address is invalid",
    0xF7: "onion service introduction timed out",
}
_GENERIC = {
    0x01: "general failure",
    0x02: "not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}
_MAX_STATUS_LINE = 1024


class SocksError(OnionError):
    """The SOCKS proxy refused the connection; `code` is its reply code."""

    def __init__(self, code: int) -> None:
        self.code = code
        text = ONION_ERRORS.get(code) or _GENERIC.get(code) or "unknown error"
        super().__init__(f"SOCKS error {code:#04x}: {text}")


@dataclass(frozen=True)
class OnionFetch:
    status: int
    status_line: str


def _recv(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    """One recv, bounded by what is left until `deadline`: a socket timeout alone
    restarts with every byte, and tor may keep a SOCKS request open for minutes."""
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(left)
    return sock.recv(size)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None = None) -> bytes:
    data = b""
    while len(data) < size:
        chunk = _recv(sock, size - len(data), deadline)
        if not chunk:
            raise OnionError("the SOCKS proxy closed the connection")
        data += chunk
    return data


def _connect(sock: socket.socket, host: str, port: int, deadline: float | None = None) -> None:
    sock.sendall(b"\x05\x01\x00")  # version 5, one method: no authentication
    if _recv_exact(sock, 2, deadline) != b"\x05\x00":
        raise OnionError("the SOCKS proxy wants authentication we do not offer")
    name = host.encode("ascii")
    if not 0 < len(name) < 256:
        raise OnionError("host name too long for SOCKS5")
    # CONNECT, address type 3 (domain name): tor resolves it, we never do.
    sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
    version, reply, _reserved, atyp = _recv_exact(sock, 4, deadline)
    if version != 5:
        raise OnionError("not a SOCKS5 proxy")
    if reply != 0:
        raise SocksError(reply)
    if atyp == 1:
        _recv_exact(sock, 4 + 2, deadline)
    elif atyp == 4:
        _recv_exact(sock, 16 + 2, deadline)
    else:
        _recv_exact(sock, _recv_exact(sock, 1, deadline)[0] + 2, deadline)


def _first_line(sock: socket.socket, deadline: float | None = None) -> str:
    """The first line the service sends (bounded), without its line ending."""
    line = b""
    while not line.endswith(b"\n") and len(line) < _MAX_STATUS_LINE:
        chunk = _recv(sock, 1, deadline)
        if not chunk:
            break
        line += chunk
    return line.decode("latin-1").strip()


def fetch_status(
    socks_host: str, socks_port: int, host: str, path: str = "/", timeout: float = 60.0
) -> OnionFetch:
    """GET http://host/path through the SOCKS proxy; the HTTP status of the answer.

    `timeout` bounds the whole exchange (TimeoutError once it has passed). Raises
    SocksError (with tor's reply code) when tor cannot reach the service.
    """
    deadline = time.monotonic() + timeout
    with socket.create_connection((socks_host, socks_port), timeout=timeout) as sock:
        _connect(sock, host, 80, deadline)
        request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("ascii"))
        text = _first_line(sock, deadline)
    parts = text.split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OnionError("the onion service did not answer with HTTP")
    return OnionFetch(status=int(parts[1]), status_line=text)


def connect_through(
    socks_host: str, socks_port: int, host: str, port: int, timeout: float = 60.0
) -> socket.socket:
    """A TCP connection to host:port through the SOCKS proxy, ready for the caller's
    protocol (the time-stamping client's HTTP). Raises SocksError like fetch_status.

    `socks_host` "unix:/path" (and port 0) names tor's unix SOCKS socket instead."""
    if socks_host.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(socks_host.removeprefix("unix:"))
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection((socks_host, socks_port), timeout=timeout)
    try:
        _connect(sock, host, port, time.monotonic() + timeout)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    return sock


def read_banner(
    socks_host: str, socks_port: int, host: str, port: int, timeout: float = 60.0
) -> str:
    """The first line a TCP service behind an onion address sends (an SSH server's
    version banner), through the SOCKS proxy. Raises SocksError like fetch_status."""
    with socket.create_connection((socks_host, socks_port), timeout=timeout) as sock:
        _connect(sock, host, port)
        return _first_line(sock)
