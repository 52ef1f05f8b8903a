"""HTTP clients at Tor speed, and hostile slow ones, paced on the client side.

Raw sockets on purpose: the pace, the bytes and an optional PROXY line are exactly what
the test says, with no library buffering in between. Every wait is bounded.

    paced_upload(host, port, "/submit", {"csrf_token": t}, [("fh", "a.bin", data)],
                 rate_bytes_per_s=40_000, headers={"Cookie": c})
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Answer",
    "multipart",
    "paced_upload",
    "raw_request",
    "read_answer",
    "trickle",
]

# One Tor cell carries 498 bytes of data; sending a few cells at a time is what a
# circuit at tens of KB/s looks like from the server.
DEFAULT_CHUNK = 2048
IO_TIMEOUT = 120.0


@dataclass
class Answer:
    """What the server answered (status 0: it closed the connection without answering)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


def multipart(
    fields: Mapping[str, str], files: Sequence[tuple[str, str, bytes]]
) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data form."""
    boundary = "----backup" + os.urandom(8).hex()
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def _head(
    method: str, path: str, host: str, port: int, headers: Mapping[str, str], length: int | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_answer(sock: socket.socket, started: float) -> Answer:
    """Read one HTTP answer from `sock` (`seconds` counted from `started`)."""
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        return Answer(status=0, seconds=time.monotonic() - started)
    raw = [(name, value) for name, value in response.getheaders()]
    return Answer(
        status=response.status,
        headers={name.lower(): value for name, value in raw},
        body=body,
        seconds=time.monotonic() - started,
        raw_headers=raw,
    )


def _send_paced(sock: socket.socket, data: bytes, rate: float, chunk: int, started: float) -> None:
    """Send `data` so that the average since `started` never exceeds `rate` bytes/s.

    Stops early when the server answers before the end (a refusal), as browsers do:
    the answer is then read instead of being lost to a reset.
    """
    sent = 0
    while sent < len(data):
        piece = data[sent : sent + chunk]
        sock.sendall(piece)
        sent += len(piece)
        pause = max(started + sent / rate - time.monotonic(), 0.0)
        readable, _w, _x = select.select([sock], [], [], pause)
        if readable:
            return


def paced_upload(
    host: str,
    port: int,
    path: str,
    fields: Mapping[str, str],
    files: Sequence[tuple[str, str, bytes]],
    rate_bytes_per_s: float,
    proxy_line: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> Answer:
    """POST a multipart form, its body sent at `rate_bytes_per_s` on average.

    The head goes at once (a browser's request head is one or two Tor cells); the body
    follows in `chunk`-byte sends, with sleeps in between. `proxy_line` (e.g.
    b"PROXY TCP6 fc00:dead:beef:4dad::1:2 ::1 1 80\\r\\n") is sent first, as tor does.
    """
    content_type, body = multipart(fields, files)
    extra = {"Content-Type": content_type, **(headers or {})}
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall((proxy_line or b"") + _head("POST", path, host, port, extra, len(body)))
        try:
            _send_paced(sock, body, rate_bytes_per_s, chunk, time.monotonic())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (a refusal): read what it said
        return read_answer(sock, started)


def raw_request(host: str, port: int, data: bytes, timeout: float = 30.0) -> Answer:
    """Send `data` as it is (a PROXY line, a malformed head...) and read the answer."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(data)
        return read_answer(sock, started)


def trickle(
    host: str,
    port: int,
    data: bytes,
    interval: float,
    limit_seconds: float,
    piece: int = 1,
) -> float:
    """Send `data` `piece` bytes every `interval` seconds until the server closes the
    connection (or `limit_seconds` pass); returns how long the server let it live.

    A slowloris: with a head that never ends, or a body far slower than any real client.
    """
    with socket.create_connection((host, port), timeout=interval + 5) as sock:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < limit_seconds:
            if sent < len(data):
                try:
                    sock.sendall(data[sent : sent + piece])
                except OSError:
                    break
                sent += piece
            try:
                sock.settimeout(interval)
                if sock.recv(4096) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        return time.monotonic() - started
