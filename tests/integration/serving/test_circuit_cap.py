"""The worker's cap on the requests one Tor circuit has in progress, and its deadline on
writes, through the serving command on 127.0.0.1.

Circuits are named by raw PROXY v1 lines, exactly as production tor writes them
(`HiddenServiceExportCircuitID haproxy`). Production's numbers (web_shared/serving.py).
"""

from __future__ import annotations

import collections
import concurrent.futures
import select
import socket
import time

import requests

from tests.integration.serving.conftest import HOST, PAGE_BOUND_SECONDS, Product
from tests.support.echo_app import LARGE_BYTES, LARGE_CHUNK
from tests.support.slow_client import Answer, raw_request, read_answer
from web_shared.security import SECURITY_HEADERS
from web_shared.serving import POLICY, SOURCE_POLICY

FLOOD = 20  # the streams one circuit may open at once (HiddenServiceMaxStreams)
# Refusals are written by the worker's main thread as soon as the request begins; the
# requests it admitted wait for their head deadline (20 s), so anything answered within
# this window was refused, not served.
REFUSAL_WINDOW_SECONDS = 5.0


def _proxy_line(circuit: int) -> bytes:
    """tor's line for a connection of `circuit` (its global circuit id)."""
    return (
        f"PROXY TCP6 fc00:dead:beef:4dad::{circuit >> 16:x}:{circuit & 0xFFFF:x} "
        f"::1 {circuit & 0xFFFF} 80\r\n"
    ).encode()


def _get(port: int, circuit: int | None) -> Answer:
    proxy = b"" if circuit is None else _proxy_line(circuit)
    return raw_request(HOST, port, proxy + f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())


def _answered_within(socks: list[socket.socket], seconds: float) -> dict[int, Answer]:
    """The answers that arrive within `seconds`, by index in `socks`."""
    started = time.monotonic()
    deadline = started + seconds
    waiting = dict(enumerate(socks))
    answers: dict[int, Answer] = {}
    while waiting and (left := deadline - time.monotonic()) > 0:
        readable, _w, _x = select.select(list(waiting.values()), [], [], left)
        for sock in readable:
            index = next(i for i, s in waiting.items() if s is sock)
            del waiting[index]
            answers[index] = read_answer(sock, started)
    return answers


def test_one_circuit_gets_the_cap_while_another_circuits_page_answers(product: Product) -> None:
    """One circuit opens 20 connections and starts a request on each that it never
    finishes: each worker admits 6 (they hold a thread until the head deadline), the
    rest get the neutral 503 at once. Meanwhile another circuit's page, and a
    connection without a PROXY line, answer at once; once the 20 close, the first
    circuit is served again."""
    port = product.source_port
    flood_circuit, other_circuit = 0x1_0051, 0x2_0052
    partial_head = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nAccept: ".encode()
    held: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            sock = socket.create_connection((HOST, port), timeout=30)
            sock.sendall(_proxy_line(flood_circuit) + partial_head)
            held.append(sock)
        refusals = _answered_within(held, REFUSAL_WINDOW_SECONDS)

        started = time.monotonic()
        other = _get(port, other_circuit)
        other_seconds = time.monotonic() - started
        direct = requests.get(f"http://{HOST}:{port}/", timeout=60)
    finally:
        for sock in held:
            sock.close()

    admitted = FLOOD - len(refusals)
    cap = POLICY.circuit_requests
    # Whatever the kernel's split between the workers, each admits at most `cap`, and
    # one of them received at least half of the 20 (>= cap).
    assert cap <= admitted <= SOURCE_POLICY.workers * cap, (admitted, refusals)
    for answer in refusals.values():
        assert answer.status == 503, answer
        assert answer.headers["retry-after"] == str(POLICY.circuit_retry_after_seconds)
        for name, value in SECURITY_HEADERS:
            assert answer.headers.get(name.lower()) == value, name
        assert answer.body == b"503 Service Unavailable\n"
    assert other.status == 200 and other_seconds < PAGE_BOUND_SECONDS, (other, other_seconds)
    assert direct.status_code == 200

    # The admitted requests ended with their connections: the circuit's count is back
    # to nothing in both workers (a leaked count would refuse some of these).
    deadline = time.monotonic() + PAGE_BOUND_SECONDS
    statuses = [_get(port, flood_circuit).status for _ in range(2 * cap)]
    while any(status != 200 for status in statuses) and time.monotonic() < deadline:
        time.sleep(0.2)
        statuses = [_get(port, flood_circuit).status for _ in range(2 * cap)]
    assert statuses == [200] * (2 * cap), statuses
    print(
        f"\ncircuit cap: {len(refusals)} of {FLOOD} refused in "
        f"{max(a.seconds for a in refusals.values()):.2f} s at most; "
        f"another circuit's page in {other_seconds:.2f} s"
    )


def test_a_browsers_parallel_requests_are_never_refused(product: Product) -> None:
    """As many requests at once as Tor Browser makes to a site (6 connections), from one
    circuit, each complete: all are served."""
    circuit = 0x3_0053
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    socks = [
        socket.create_connection((HOST, product.source_port), timeout=30)
        for _ in range(POLICY.circuit_requests)
    ]
    try:
        for sock in socks:
            sock.sendall(_proxy_line(circuit) + request)
        answers = _answered_within(socks, 60.0)
    finally:
        for sock in socks:
            sock.close()
    assert sorted(answers) == list(range(len(socks)))
    assert [answer.status for answer in answers.values()] == [200] * len(socks)


def test_a_browsers_requests_back_to_back_are_never_refused(product: Product) -> None:
    """As many connections as Tor Browser opens to a site (6, the cap), one circuit,
    each sending its next request on a new connection as soon as the last answer
    arrives and closing the old one: a finished request's count is released before its
    last bytes are written, and a connection its client closed takes no slot, so the
    circuit never appears to have more than 6 in progress."""
    circuit = 0x5_0055
    clients, rounds = POLICY.circuit_requests, 60

    def browse() -> list[int]:
        return [_get(product.source_port, circuit).status for _ in range(rounds)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        statuses = [s for done in pool.map(lambda _: browse(), range(clients)) for s in done]
    assert statuses == [200] * (clients * rounds), collections.Counter(statuses)


def _download(port: int, pause_seconds: float) -> tuple[int, str]:
    """GET /large, read nothing for `pause_seconds`, then read to the end: (bytes of
    the body received, how it ended)."""
    with socket.socket() as sock:
        # A small receive window, so the server's sends block soon after the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.settimeout(30)
        sock.connect((HOST, port))
        request = f"GET /large HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        sock.sendall(_proxy_line(0x4_0054) + request)
        time.sleep(pause_seconds)
        received = bytearray()
        ending = "complete"
        try:
            while True:
                data = sock.recv(1 << 20)
                if not data:
                    ending = "closed"
                    break
                received += data
                head_end = received.find(b"\r\n\r\n")
                if head_end >= 0 and len(received) - head_end - 4 >= LARGE_BYTES:
                    break
        except ConnectionResetError:
            ending = "reset"
        head_end = received.find(b"\r\n\r\n")
        assert received.startswith(b"HTTP/1.1 200 "), received[:100]
        return len(received) - head_end - 4, ending


def test_a_client_that_stops_reading_is_cut_after_the_write_deadline(echo_port: int) -> None:
    """A download whose client reads nothing for longer than a write's deadline is cut
    (its thread freed); one that pauses for less is delivered whole."""
    write_deadline = (
        POLICY.send_grace_seconds + len(LARGE_CHUNK) / POLICY.send_min_rate_bytes_per_second
    )
    cut, ending = _download(echo_port, write_deadline + 10)
    assert ending in ("reset", "closed") and cut < LARGE_BYTES, (cut, ending)
    assert requests.get(f"http://{HOST}:{echo_port}/", timeout=30).status_code == 200

    assert _download(echo_port, 5.0) == (LARGE_BYTES, "complete")
    print(f"\nwrite deadline: a client silent past it got {cut} of {LARGE_BYTES} bytes ({ending})")
