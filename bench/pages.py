"""Source pages: throughput against a bare Flask app, and page loads at Tor-like latency.

1. Throughput. The product as `backupctl run` starts it (bench/tor_speed_uploads.py's
   `BackUp`: a fresh instance, private Redis, SQLite, each app under `backupctl serve`,
   i.e. gunicorn with web_shared/serving.py's policy and guarded gthread worker) against a
   bare Flask hello-world under the same `backupctl serve` gunicorn and the source
   interface's settings (one worker, its threads). A
   load generator (`--clients` processes, each one kept-alive connection, one request at
   a time, no cookie: every request is a new visitor) runs for `--seconds` on source `/`,
   on source `/generate` and on the hello-world, in alternating order over `--rounds`
   rounds. Prints requests/s and the ratio source/hello of each round, and the medians.
   First it checks that each side serves the real pages (three visits to /generate show
   three codenames, each with a CSRF token; / is the English landing page).
   The load generator runs on the same cores as the servers, for both sides alike.

2. Page loads at Tor-like latency. No `tc netem` here (the kernel lacks sch_netem), so a
   delaying TCP proxy stands in for the circuit: each chunk, in each direction, arrives
   `--rtt-ms`/2 after it was sent, then at most `--rate-kbps` (a Tor circuit's pace). A
   small client loads a page as a browser does: the document, then every stylesheet it
   links (same kept-alive connection; nothing cached: the pages said `no-store`). The
   product of this tree is measured against the same product at `--baseline-commit`
   (a `git worktree add --detach`, the same venv), whose pages link `/static/style.css`.
   Sides alternate; medians of `--loads` loads of `/` and `/generate` are printed.

The throughput phase measures the baseline tree too (its `/` and `/generate`), so the
change in rendering cost shows on the same machine in the same run.

    .venv/bin/python -m bench.pages [--rounds 4] [--seconds 8] [--clients 4]
        [--loads 6] [--rtt-ms 500] [--rate-kbps 50] [--baseline-commit cb8cce4]
        [--only throughput|latency]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import socket
import statistics
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.tor_speed_uploads import HOST, BackUp, Server, descendants, free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

DEFAULT_BASELINE = "cb8cce4"  # the pages linked /static/style.css, sent no-store
STYLESHEET = re.compile(rb'<link rel="stylesheet" href="([^"]+)"')


# --- the hello-world (imported by gunicorn's workers from this file) ------------------


def create_hello_app() -> Any:
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello() -> str:
        return "Hello, World!"

    return app


def serve_hello(bind: str) -> None:
    """A bare Flask app under `backupctl serve`'s gunicorn and the source interface's
    settings (its processes and threads: web_shared.serving.POLICIES); this process is
    the master."""
    from backupctl.server.cmd_serve import GunicornServer
    from web_shared.serving import POLICIES, gunicorn_settings

    GunicornServer(
        "bench.pages:create_hello_app", gunicorn_settings(bind, POLICIES["source"])
    ).run()


class Hello(Server):
    name = "bare Flask"

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.log = open(work / "hello.log", "wb")
        self.proc = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "bench.pages", "--serve-hello", f"{HOST}:{self.port}"],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def app_pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        super().stop()
        self.log.close()


# --- HTTP/1.1 on a raw socket (cheap, so the client costs both sides little) ----------


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes, bytes]:
    """One response on a kept-alive socket: (status, head, body). `buffer` keeps what
    was read beyond it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if match is None:
        raise ConnectionError("no Content-Length")
    length = int(match.group(1))
    while len(buffer) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the body")
        buffer += chunk
    body = bytes(buffer[end : end + length])
    del buffer[: end + length]
    return int(head.split(b" ", 2)[1]), head, body


def request_bytes(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/html,*/*\r\n"
        "Accept-Language: en-US,en;q=0.5\r\n\r\n"
    ).encode()


def _load_worker(port: int, path: str, stop_at: float, start_at: float, out: Any) -> None:
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = request_bytes(port, path)
    buffer = bytearray()
    count = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < stop_at:
        sock.sendall(request)
        status, _head, _body = read_response(sock, buffer)
        if status != 200:
            raise RuntimeError(f"{path}: {status}")
        count += 1
    sock.close()
    out.put(count)


def requests_per_second(port: int, path: str, seconds: float, clients: int) -> float:
    """Requests answered per second by `clients` processes, one kept-alive connection
    each, over `seconds` (after a one-second warm-up)."""
    queue: Any = multiprocessing.Queue()
    warm = time.time() + 1.0
    for _ in range(2):  # warm-up: the first requests of each worker import and compile
        _load_worker(port, path, time.time() + 0.5, 0, queue)
        queue.get()
    start_at = max(warm, time.time() + 0.5)
    stop_at = start_at + seconds
    procs = [
        multiprocessing.Process(target=_load_worker, args=(port, path, stop_at, start_at, queue))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    total = sum(queue.get(timeout=seconds + 120) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


# --- Tor-like latency: a delaying proxy ------------------------------------------------


class DelayProxy:
    """TCP on 127.0.0.1: every chunk reaches the other side `one_way` seconds after it
    left, and no faster than `rate` bytes/s per direction (each connection a circuit)."""

    def __init__(self, target_port: int, one_way: float, rate: float) -> None:
        self.target_port, self.one_way, self.rate = target_port, one_way, rate
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection((HOST, self.target_port))
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, server)
            self._pipe(server, client)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        """Reader thread stamps chunks; sender thread delivers each when it is due."""
        pending: list[tuple[float, bytes]] = []
        ready = threading.Condition()

        def read() -> None:
            free_at = 0.0  # when the circuit has carried the previous chunk
            while True:
                try:
                    chunk = src.recv(16384)
                except OSError:
                    chunk = b""
                now = time.monotonic()
                free_at = max(now, free_at) + len(chunk) / self.rate
                with ready:
                    pending.append((free_at + self.one_way, chunk))
                    ready.notify()
                if not chunk:
                    return

        def send() -> None:
            while True:
                with ready:
                    while not pending:
                        ready.wait()
                    due, chunk = pending.pop(0)
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if not chunk:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                try:
                    dst.sendall(chunk)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=send, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def page_load(port: int, path: str) -> tuple[float, int, int]:
    """A browser's load of `path` on a new connection: the document, then each linked
    stylesheet. (seconds, requests, bytes received)."""
    start = time.monotonic()
    sock = socket.create_connection((HOST, port))
    buffer = bytearray()
    received = 0
    try:
        sock.sendall(request_bytes(port, path))
        status, head, body = read_response(sock, buffer)
        if status != 200:
            raise RuntimeError(f"{path}: {status}")
        received += len(head) + len(body)
        requests = 1
        for href in STYLESHEET.findall(body):
            sock.sendall(request_bytes(port, href.decode()))
            status, head, css = read_response(sock, buffer)
            if status != 200:
                raise RuntimeError(f"{href!r}: {status}")
            received += len(head) + len(css)
            requests += 1
    finally:
        sock.close()
    return time.monotonic() - start, requests, received


# --- the runs -------------------------------------------------------------------------


@contextlib.contextmanager
def baseline_tree(commit: str, parent: Path) -> Iterator[Path]:
    """A detached git worktree of `commit`, removed afterwards."""
    tree = parent / "baseline-tree"
    subprocess.run(  # nosec B603 B607
        ["git", "worktree", "add", "--detach", str(tree), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(  # nosec B603 B607
            ["git", "worktree", "remove", "--force", str(tree)],
            cwd=ROOT,
            check=False,
            capture_output=True,
        )


def side(work: Path, name: str, root: Path = ROOT) -> BackUp:
    folder = work / name
    folder.mkdir(exist_ok=True)
    return BackUp(folder, root=root)


@contextlib.contextmanager
def running(make: Callable[[], Server]) -> Iterator[Server]:
    server = make()
    try:
        yield server
    finally:
        server.stop()


def alternate(rounds: int, sides: list[str]) -> Iterable[list[str]]:
    """A B, B A, A B, ..."""
    for index in range(rounds):
        yield sides if index % 2 == 0 else list(reversed(sides))


CODENAME = re.compile(rb'<p class="codename">([a-z\- ]+)</p>')


def fetch_page(port: int, path: str) -> bytes:
    """One page on a new connection, as a new visitor (no cookie)."""
    sock = socket.create_connection((HOST, port))
    try:
        sock.sendall(request_bytes(port, path))
        status, _head, body = read_response(sock, bytearray())
    finally:
        sock.close()
    if status != 200:
        raise RuntimeError(f"{path}: {status}")
    return body


def check_pages(name: str, server: Server) -> None:
    """What is measured is the real page: each visit to /generate shows a new codename
    and a CSRF token, and / is the landing page, in the language asked for."""
    codenames = set()
    for _ in range(3):
        page = fetch_page(server.port, "/generate")
        match = CODENAME.search(page)
        if match is None or b'name="csrf_token" value="' not in page:
            raise RuntimeError(f"{name}: /generate shows no codename or no CSRF token")
        codenames.add(match.group(1))
    if len(codenames) != 3:
        raise RuntimeError(f"{name}: /generate showed the same codename twice")
    if b'<html lang="en"' not in fetch_page(server.port, "/"):
        raise RuntimeError(f"{name}: / is not the English landing page")


def throughput(
    sides: dict[str, Server], hello: Server, rounds: int, seconds: float, clients: int
) -> None:
    print(f"\n== throughput: {clients} clients, {seconds:.0f} s per measure, {rounds} rounds")
    for name, server in sides.items():
        check_pages(name, server)
    runs = {"bare Flask /": (hello.port, "/")}
    for name, server in sides.items():
        runs[f"{name} /"] = (server.port, "/")
        runs[f"{name} /generate"] = (server.port, "/generate")
    results: dict[str, list[float]] = {name: [] for name in runs}
    for order in alternate(rounds, list(runs)):
        for name in order:
            port, path = runs[name]
            results[name].append(requests_per_second(port, path, seconds, clients))
        hello_rps = results["bare Flask /"][-1]
        print(
            "round: "
            + "; ".join(
                f"{name} {values[-1]:,.0f} req/s ({values[-1] / hello_rps:.2f})"
                for name, values in results.items()
            )
        )
    hello_median = statistics.median(results["bare Flask /"])
    print("medians (ratio to bare Flask's median):")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:40} {median:7,.0f} req/s  {median / hello_median:.2f}")


def latency(sides: dict[str, Server], loads: int, rtt_ms: float, rate_kbps: float) -> None:
    print(
        f"\n== page loads through a delaying proxy: RTT {rtt_ms:.0f} ms, "
        f"{rate_kbps:.0f} KB/s per direction, {loads} loads per page and side"
    )
    paths = ["/", "/generate"]
    proxies = {
        name: DelayProxy(server.port, rtt_ms / 2000, rate_kbps * 1000)
        for name, server in sides.items()
    }
    times: dict[tuple[str, str], list[float]] = {}
    shape: dict[tuple[str, str], tuple[int, int]] = {}
    for order in alternate(loads, list(sides)):
        for name in order:
            for path in paths:
                seconds, requests, size = page_load(proxies[name].port, path)
                times.setdefault((name, path), []).append(seconds)
                shape[(name, path)] = (requests, size)
    for proxy in proxies.values():
        proxy.close()
    for path in paths:
        for name in sides:
            requests, size = shape[(name, path)]
            values = times[(name, path)]
            print(
                f"{path:10} {name:28} median {statistics.median(values) * 1000:6.0f} ms"
                f" (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f});"
                f" {requests} request(s), {size:,} bytes"
            )


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve-hello", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--loads", type=int, default=6)
    parser.add_argument("--rtt-ms", type=float, default=500.0)
    parser.add_argument("--rate-kbps", type=float, default=50.0)
    parser.add_argument("--baseline-commit", default=DEFAULT_BASELINE)
    parser.add_argument("--only", choices=["throughput", "latency"])
    args = parser.parse_args()
    if args.serve_hello:
        serve_hello(args.serve_hello)
        return
    print("machine at start:", machine())
    work = Path(tempfile.mkdtemp(prefix="bk-pages-"))  # short: gpg-agent's socket paths
    commit = args.baseline_commit
    with (
        baseline_tree(commit, work) as tree,
        running(lambda: side(work, "new")) as new,
        running(lambda: side(work, "old", tree)) as old,
        running(lambda: Hello(work)) as hello,
    ):
        sides = {"this tree": new, f"baseline {commit}": old}
        if args.only != "latency":
            throughput(sides, hello, args.rounds, args.seconds, args.clients)
        if args.only != "throughput":
            latency(sides, args.loads, args.rtt_ms, args.rate_kbps)
    print("\nmachine at end:", machine())


if __name__ == "__main__":
    main()
