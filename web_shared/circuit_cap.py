"""A cap on the requests one Tor circuit has in progress in one worker process.

Production tor starts every connection with a PROXY v1 line naming the client's circuit
(`HiddenServiceExportCircuitID haproxy`). The worker (`web_shared.serving_worker`) reads
that line on its main thread, without a thread, and counts what each circuit has in
progress (being read, run or answered); past the cap a request is refused at once. A
connection without a PROXY line (development, a health check on the server, the tests'
own clients) names no circuit and is not capped: all of them come from 127.0.0.1, and
counting them as one client would refuse a developer's own browser.

Only tor may send a PROXY line (gunicorn refuses it from anyone else, `proxy_allow_ips`),
and gunicorn's parser reads it again for the request: this module only decides whom to
count, never what the app is told.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

__all__ = ["CircuitCounter", "Greeting", "read_greeting"]

PROXY_PREFIX = b"PROXY "
# The longest PROXY v1 line, CRLF included (haproxy's proxy-protocol.txt, section 2.1).
PROXY_LINE_MAX = 107


@dataclass(frozen=True)
class Greeting:
    """What the first bytes of a connection say."""

    # Hand the connection to a thread now: its request has begun (or it is malformed,
    # and gunicorn's parser will answer 400 at once).
    ready: bool
    # The circuit named by a PROXY line; None without one.
    circuit: str | None


_WAIT = Greeting(ready=False, circuit=None)


def read_greeting(data: bytes) -> Greeting:
    """Decide from a connection's first bytes whether its request may go to a thread,
    and which circuit it counts against.

    A PROXY line alone is not ready: tor writes it as soon as it connects, before the
    client's request crosses the network, and a connection that has not started its
    request holds no thread.
    """
    if len(data) < len(PROXY_PREFIX) and PROXY_PREFIX.startswith(data):
        return _WAIT  # nothing yet, or the start of "PROXY "
    if not data.startswith(PROXY_PREFIX):
        return Greeting(ready=True, circuit=None)
    end = data.find(b"\r\n", 0, PROXY_LINE_MAX)
    if end < 0:
        if len(data) < PROXY_LINE_MAX:
            return _WAIT
        return Greeting(ready=True, circuit=None)  # too long: gunicorn refuses it
    circuit = _source_address(data[:end])
    if circuit is None:
        return Greeting(ready=True, circuit=None)  # malformed: gunicorn refuses it
    return Greeting(ready=len(data) > end + 2, circuit=circuit)


def _source_address(line: bytes) -> str | None:
    """The source address of a PROXY v1 line, as gunicorn hands it to the app.

    Any line gunicorn would accept yields an address (it checks the same six fields and
    more), so no accepted request escapes the count.
    """
    fields = line.decode("latin-1").split(" ")
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        return None
    return fields[2]


class CircuitCounter:
    """Requests in progress per circuit, in one worker. Taken on the worker's main
    thread (where requests are dispatched), released on the request's own thread as
    soon as its answer is written: hence the lock."""

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError("a circuit must be allowed one request")
        self.cap = cap
        self._in_progress: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, circuit: str) -> bool:
        """Count one more request of `circuit`; False (nothing counted) past the cap."""
        with self._lock:
            if self._in_progress[circuit] >= self.cap:
                return False
            self._in_progress[circuit] += 1
            return True

    def release(self, circuit: str) -> None:
        """One request of `circuit` finished."""
        with self._lock:
            left = self._in_progress[circuit] - 1
            if left > 0:
                self._in_progress[circuit] = left
            else:
                del self._in_progress[circuit]  # no entry kept for a circuit gone

    def in_progress(self, circuit: str) -> int:
        with self._lock:
            return self._in_progress.get(circuit, 0)

    def __len__(self) -> int:
        """How many circuits have a request in progress."""
        with self._lock:
            return len(self._in_progress)
