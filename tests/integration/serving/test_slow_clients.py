"""The production serving path (`backupctl serve`, started by `backupctl run`) under
Tor-speed and hostile slow clients, on 127.0.0.1.

Production's numbers (web_shared/serving.py), not test ones: the deadlines waited for here
are the real ones. Pages are checked with a generous functional bound, never timed.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from redis import Redis

from tests.integration.serving.conftest import HOST, PAGE_BOUND_SECONDS, Product
from tests.support.leaks import assert_no_leak
from tests.support.reliability import p95, record
from tests.support.slow_client import Answer, paced_upload, raw_request, trickle
from web_shared.security import SECURITY_HEADERS
from web_shared.serving import POLICY, SOURCE_POLICY

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MARKER = b"SLOW-UPLOAD-PLAINTEXT-MARKER "


def _new_source(url: str) -> tuple[str, str]:
    """A logged-in source: (Cookie header, CSRF token of the submit form)."""
    session = requests.Session()
    token = _CSRF.search(session.get(url + "/generate", timeout=30).text)
    assert token
    session.post(
        url + "/create", data={"csrf_token": token.group(1)}, timeout=30
    ).raise_for_status()
    token = _CSRF.search(session.get(url + "/lookup", timeout=30).text)
    assert token
    cookie = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
    return cookie, token.group(1)


class _PageProbe:
    """GET / once a second in the background; remembers the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.worst = 0.0
        self.failures: list[str] = []
        self.count = 0
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = requests.get(self.url + "/", timeout=60).status_code
                if status != 200:
                    self.failures.append(str(status))
            except requests.RequestException as exc:
                self.failures.append(type(exc).__name__)
            self.samples.append(time.monotonic() - started)
            self.worst = max(self.worst, self.samples[-1])
            self.count += 1
            self._stop.wait(1.0)

    def __enter__(self) -> _PageProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(90)


@pytest.mark.reliability
def test_tor_speed_uploads_complete_while_pages_answer(product: Product) -> None:
    """Three ~1 MiB uploads at 32, 40 and 48 KB/s at once (each longer than gunicorn's
    30 s default timeout that cut them before) are all sealed; `GET /` keeps answering."""
    before = product.sealed()
    rates = (32_000, 40_000, 48_000)
    sources = [_new_source(product.url) for _ in rates]
    size = 1024 * 1024

    def upload(index: int) -> Answer:
        cookie, token = sources[index]
        data = MARKER + os.urandom(size - len(MARKER))
        return paced_upload(
            HOST,
            product.source_port,
            "/submit",
            {"csrf_token": token, "msg": ""},
            [("fh", f"evidence-{index}.bin", data)],
            rate_bytes_per_s=rates[index],
            headers={"Cookie": cookie},
        )

    with _PageProbe(product.url) as probe, ThreadPoolExecutor(len(rates)) as pool:
        answers = list(pool.map(upload, range(len(rates))))

    for answer in answers:
        assert answer.status in (200, 302, 303), answer
        assert answer.seconds > size / 48_000 * 0.9  # it really was paced
    sealed = product.sealed() - before
    assert len(sealed) == len(rates)
    # Nowhere: not in the store, the database file, the logs, nor the private Redis.
    redis = Redis(unix_socket_path=str(product.instance / "run" / "redis.sock"))
    try:
        assert_no_leak(MARKER.decode().strip(), files=[product.instance], redis=redis)
    finally:
        redis.close()
    assert probe.count >= 15 and not probe.failures
    assert probe.worst < PAGE_BOUND_SECONDS, probe.worst
    record(
        "3 uploads of 1 MiB at once, paced at 32, 40 and 48 KB/s",
        {
            "upload_seconds": [round(a.seconds, 1) for a in answers],
            "sealed": len(sealed),
            "page_GET_/_p95_s": round(p95(probe.samples), 3),
            "page_GET_/_worst_s": round(probe.worst, 3),
            "pages_asked": probe.count,
        },
        group="pacing",
    )


@pytest.mark.reliability
def test_slowloris_head_and_body_are_cut_while_pages_answer(product: Product) -> None:
    """A head that never ends is cut after the head deadline, a body far below the
    minimum rate after its grace; pages answer meanwhile."""
    head = (
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\n" + "".join(f"X-Pad-{i}: a\r\n" for i in range(90))
    ).encode()
    body_head = (
        f"POST /login HTTP/1.1\r\nHost: {HOST}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 50000\r\n\r\n"
    ).encode()
    limit = POLICY.body_grace_seconds + 40
    with _PageProbe(product.url) as probe, ThreadPoolExecutor(6) as pool:
        heads = [
            pool.submit(trickle, HOST, product.source_port, head, 1.0, limit) for _ in range(3)
        ]
        # The whole head at once, then one body byte every 2 s (0.5 B/s).
        bodies = [
            pool.submit(trickle, HOST, product.source_port, body_head, 2.0, limit, len(body_head))
            for _ in range(3)
        ]
        head_lives = [future.result() for future in heads]
        body_lives = [future.result() for future in bodies]
    head_deadline = POLICY.head_timeout_seconds
    for lived in head_lives:
        assert head_deadline - 1 <= lived <= head_deadline + 10, head_lives
    body_deadline = POLICY.body_grace_seconds
    for lived in body_lives:
        assert body_deadline - 1 <= lived <= body_deadline + 10, body_lives
    assert not probe.failures
    assert probe.worst < PAGE_BOUND_SECONDS, probe.worst
    record(
        "slowloris: 3 endless heads, 3 bodies at 0.5 B/s",
        {
            "heads_cut_after_s": [round(x, 1) for x in head_lives],
            "bodies_cut_after_s": [round(x, 1) for x in body_lives],
            "page_GET_/_p95_s": round(p95(probe.samples), 3),
            "page_GET_/_worst_s": round(probe.worst, 3),
        },
        group="pacing",
    )


@pytest.mark.reliability
def test_uploads_beyond_the_cap_get_our_503_before_their_body(product: Product) -> None:
    """One upload more than the slots of the source interface's workers, all at once and
    slow: whichever worker the kernel hands the extra ones to refuses them at once (503,
    Retry-After, our translated page) before reading their body; every other upload is
    sealed."""
    total = SOURCE_POLICY.upload_slots * SOURCE_POLICY.workers + 1
    sources = [_new_source(product.url) for _ in range(total)]
    before = product.sealed()
    size = 200 * 1024  # ~20 s at 10 KB/s: every upload holds its slot meanwhile

    def upload(index: int) -> Answer:
        cookie, token = sources[index]
        return paced_upload(
            HOST,
            product.source_port,
            "/submit",
            {"csrf_token": token, "msg": ""},
            [("fh", f"upload-{index}.bin", os.urandom(size))],
            rate_bytes_per_s=10_000,
            headers={"Cookie": cookie, "Accept-Language": "fr"},
        )

    with _PageProbe(product.url) as probe, ThreadPoolExecutor(total) as pool:
        answers = list(pool.map(upload, range(total)))

    refused = [answer for answer in answers if answer.status == 503]
    accepted = [answer for answer in answers if answer.status in (200, 302, 303)]
    # Pigeonhole: one upload more than all the slots leaves at least one without a slot.
    assert refused and len(refused) + len(accepted) == total, answers
    for answer in refused:
        assert answer.headers["retry-after"] == str(POLICY.upload_retry_after_seconds)
        assert answer.seconds < size / 10_000 / 2  # answered long before its body was sent
        assert "Trop de fichiers en cours de réception" in answer.body.decode()
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert len(product.sealed() - before) == len(accepted)
    assert not probe.failures and probe.worst < PAGE_BOUND_SECONDS, probe.worst
    record(
        f"{total} slow uploads at once (10 KB/s): beyond the per-worker cap",
        {
            "refused_503": len(refused),
            "refused_answered_in_s": [round(a.seconds, 2) for a in refused],
            "sealed": len(accepted),
            "page_GET_/_p95_s": round(p95(probe.samples), 3),
            "page_GET_/_worst_s": round(probe.worst, 3),
        },
        group="pacing",
    )


def test_server_header_and_gunicorns_own_errors_carry_our_headers(product: Product) -> None:
    """`Server` names no software; gunicorn's own 400/431/414 carry our security headers
    and a neutral body."""
    page = raw_request(
        HOST, product.source_port, f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    )
    assert page.status == 200
    servers = [value for name, value in page.raw_headers if name.lower() == "server"]
    assert servers == ["BackUp"]

    bad = {
        "bad request line": b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        "invalid header": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        "head too large": b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: y\r\n" % i for i in range(POLICY.limit_request_fields + 5))
        + b"\r\n",
        "line too long": b"GET /" + b"a" * (POLICY.limit_request_line + 10) + b" HTTP/1.1\r\n\r\n",
    }
    statuses = {}
    for what, data in bad.items():
        answer = raw_request(HOST, product.source_port, data)
        statuses[what] = answer.status
        assert 400 <= answer.status < 500, (what, answer)
        for name, value in SECURITY_HEADERS:
            assert answer.headers.get(name.lower()) == value, (what, name)
        assert b"gunicorn" not in answer.body.lower() and b"<" not in answer.body
        assert (
            answer.body.decode().strip()
            == f"{answer.status} " + answer.body.decode().split(" ", 1)[1].strip()
        )
    assert statuses["bad request line"] == 400
    assert statuses["invalid header"] == 400
    assert statuses["head too large"] == 431
    assert statuses["line too long"] == 414


def _keepalive_exchange(port: int, first: bytes, requests_count: int) -> list[bytes]:
    """Send `first` then more requests on one kept-alive connection; the bodies."""
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    bodies = []
    with socket.create_connection((HOST, port), timeout=30) as sock:
        for index in range(requests_count):
            sock.sendall((first if index == 0 else b"") + request)
            response = http.client.HTTPResponse(sock)
            response.begin()
            bodies.append(response.read())
    return bodies


def test_proxy_line_from_loopback_names_the_circuit(echo_port: int) -> None:
    """A PROXY v1 line, as tor sends with HiddenServiceExportCircuitID haproxy, gives the
    app the circuit's address on every request of a kept-alive connection; without one
    the connection is served as it is (development); a line in mid-stream is refused."""
    proxy = b"PROXY TCP6 fc00:dead:beef:4dad::0:2a ::1 42 80\r\n"
    assert _keepalive_exchange(echo_port, proxy, 3) == [b"fc00:dead:beef:4dad::0:2a"] * 3
    assert _keepalive_exchange(echo_port, b"", 2) == [b"127.0.0.1"] * 2
    other = b"PROXY TCP6 fc00:dead:beef:4dad::1:7 ::1 7 80\r\n"
    assert _keepalive_exchange(echo_port, other, 1) == [b"fc00:dead:beef:4dad::1:7"]
    # On a kept-alive connection, a PROXY line after the first request is no PROXY
    # line: it is a bad request, and the address stays what it was.
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    with socket.create_connection((HOST, echo_port), timeout=30) as sock:
        sock.sendall(request)
        first = http.client.HTTPResponse(sock)
        first.begin()
        assert first.read() == b"127.0.0.1"
        sock.sendall(proxy + request)
        second = http.client.HTTPResponse(sock)
        second.begin()
        assert second.status == 400


def test_clients_that_never_close_do_not_stall_the_worker(echo_port: int) -> None:
    """Answered with `Connection: close`, 20 clients neither read nor close. gunicorn's
    gthread lingers up to 2 s for each on its main loop (10 such clients stalled a page
    for 15.8 s when measured); the guarded worker lingers in its poller."""
    held = []
    try:
        for _ in range(20):
            sock = socket.create_connection((HOST, echo_port), timeout=10)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            held.append(sock)
        time.sleep(0.5)
        started = time.monotonic()
        assert requests.get(f"http://{HOST}:{echo_port}/", timeout=60).status_code == 200
        assert time.monotonic() - started < PAGE_BOUND_SECONDS
    finally:
        for sock in held:
            sock.close()
