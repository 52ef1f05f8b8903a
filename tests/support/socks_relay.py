"""A minimal SOCKS5 relay on 127.0.0.1 (no authentication, CONNECT only), standing in
for tor's SOCKS port: it records the host names it was asked for, so a test can see a
request went through it with the name unresolved (socks5h)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Relay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    asked: list[tuple[str, int]]
    to_port: int | None


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        client: socket.socket = self.request
        client.recv(3)  # version 5, one method, no authentication
        client.sendall(b"\x05\x00")
        head = client.recv(5)
        name = client.recv(head[4]).decode("ascii")
        port = int.from_bytes(client.recv(2), "big")
        assert isinstance(self.server, _Relay)
        self.server.asked.append((name, port))
        # The test's TSA listens on 127.0.0.1: the relay "resolves" every name there
        # (on `to_port` when given: a test's onion service stand-in).
        upstream = socket.create_connection(("127.0.0.1", self.server.to_port or port), timeout=10)
        client.sendall(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
        _pipe(client, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(10)
    a.close()
    b.close()


@contextmanager
def socks_relay(
    to_port: int | None = None,
) -> Iterator[tuple[tuple[str, int], list[tuple[str, int]]]]:
    """((host, port) of the relay, the (name, port) pairs it was asked to connect to).
    With `to_port`, every connection goes to 127.0.0.1:`to_port`, whatever port was asked."""
    server = _Relay(("127.0.0.1", 0), _Handler)
    server.asked = []
    server.to_port = to_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield (str(host), int(port)), server.asked
    finally:
        server.shutdown()
        server.server_close()
