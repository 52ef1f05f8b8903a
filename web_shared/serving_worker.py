"""gunicorn's gthread worker with BackUp's defences against slow and hostile clients.

Written against gunicorn 27's `workers/gthread.py` and `http/` (pinned in pyproject):

- **Deadlines on reads.** gthread reads a request's head and body with blocking
  `recv()` and no timeout: a client sending one byte now and then holds a thread for
  ever. Every read here goes through `_GuardedUnreader`, which gives `recv()` a socket
  timeout equal to what is left of the request's deadline: its head must be complete
  `head_timeout_seconds` after the worker starts reading it, and its body may take
  `body_grace_seconds` + (bytes received so far) / `body_min_rate` (a client keeping up
  a reasonable average is never cut, however long its upload). A client past its
  deadline is cut with `SlowClientError`, silently for gunicorn and as a 400 for the app.
- **A cap per circuit.** A new connection's first bytes (tor's PROXY line, the start of
  the request) are read in the poller, without a thread. A request goes to a thread only
  once it has begun, and only while its circuit has fewer than `circuit_requests`
  requests in progress in this worker; beyond that the main thread answers a neutral 503
  with `Retry-After` at once (`web_shared.circuit_cap`). gthread would instead hand every
  new connection to a thread, which waits up to 5 s for its first bytes.
- **Deadlines on writes.** gthread writes responses with blocking `sendall()` and no
  timeout: a client that stops reading a download holds a thread for ever. Each write
  here (`_NeutralResponse`) must finish within `send_grace_seconds` plus its size at
  `send_min_rate`, or the connection is reset (`SlowReaderError`). gunicorn's sendfile
  is off, so every body byte goes through these writes.
- **Circuit identity on every request.** gunicorn parses the PROXY line of the first
  request only and forgets it on kept-alive ones (gthread, unlike base_async, does not
  carry it over): the connection remembers it here.
- **Nothing about the stack.** gunicorn's `Server: gunicorn` becomes the apps'
  `Server: BackUp`, and gunicorn's own error responses (bad request line, head too
  large, invalid header, a 500 from the worker) carry the apps' security headers and a
  neutral body, and are logged by class name only (gunicorn would log the request line).
  On the reviewer API (a path under `/api/`, when the request line could be read) that
  body is the API's JSON error, `{"error": ..., "message": ...}`: a client of a JSON API
  gets JSON errors whichever layer refuses (`_PathKeepingRequest` keeps the path).
- **No closing connection blocks the worker.** gunicorn closes a finished connection
  gracefully on the worker's main thread, lingering up to 2 s for the client to close
  its side: a client that never does stalls accepting, dispatching and the heartbeat for
  everyone (20 of them would get the worker killed). Here the lingering waits in the
  poller instead.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.http import wsgi
from gunicorn.http.message import Request
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker
from werkzeug.exceptions import ClientDisconnected

from web_shared.circuit_cap import CircuitCounter, read_greeting
from web_shared.direct_body import direct_body
from web_shared.headers import SECURITY_HEADERS
from web_shared.native_memory import set_mmap_threshold
from web_shared.serving import POLICY, ServingPolicy

__all__ = ["GuardedThreadWorker", "SlowClientError", "SlowReaderError"]

# How long a closing connection waits for the client to close its side, and how much it
# reads meanwhile (gunicorn's close_graceful uses the same bounds).
_LINGER_SECONDS = 2.0
_LINGER_MAX_BYTES = 64 * 1024
_GUARD = "_backup_guard"
_PROXY_INFO = "_backup_proxy_info"
# Set on a connection by the main thread: the bytes it read before dispatching, the
# circuit the connection counts against, whether a request of it is counted now.
_GREETING = "_backup_greeting"
_CIRCUIT = "_backup_circuit"
_COUNTED = "_backup_counted"
# Set by a request's thread: its client stopped reading, close without lingering.
_ABORT = "_backup_abort"
_GREETING_READ = 4096
# Set on an error raised while reading a request's head: the request's path, if its
# request line was read.
_REQUEST_PATH = "_backup_request_path"


class SlowClientError(http_errors.NoMoreData, ClientDisconnected):
    """A client missed its deadline. For gunicorn it is a client gone (the connection is
    closed without an answer); for an app reading the body, a 400 (nothing is saved)."""

    def __init__(self) -> None:
        http_errors.NoMoreData.__init__(self, None)
        ClientDisconnected.__init__(self, "the client was too slow")


class SlowReaderError(TimeoutError):
    """A client did not take a response's write in time: the connection is reset."""


class _Deadline:
    """When the request being read on one connection must be read by."""

    def __init__(self, policy: ServingPolicy) -> None:
        self._policy = policy
        self._body = False
        self._start = time.monotonic()
        self._received = 0

    def start_head(self) -> None:
        self._body = False
        self._start = time.monotonic()

    def start_body(self) -> None:
        self._body = True
        self._start = time.monotonic()
        self._received = 0

    def count(self, received: int) -> None:
        self._received += received

    def remaining(self) -> float:
        policy = self._policy
        if self._body:
            allowed = policy.body_grace_seconds + (
                self._received / policy.body_min_rate_bytes_per_second
            )
        else:
            allowed = policy.head_timeout_seconds
        return self._start + allowed - time.monotonic()


class _GuardedUnreader(SocketUnreader):
    """gunicorn's socket reader, each `recv()` bounded by the request's deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__(sock)
        self.deadline = deadline

    def recv_into(self, buffer: memoryview) -> int:
        """One `recv_into()` under the same deadline as `chunk`: the body straight into
        the caller's buffer (web_shared.direct_body)."""
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise SlowClientError()
        prior = self.sock.gettimeout()
        ours = prior is None or remaining < prior
        self.sock.settimeout(remaining if ours else prior)
        try:
            received = self.sock.recv_into(buffer)
        except TimeoutError:
            if ours:
                raise SlowClientError() from None
            raise
        finally:
            self.sock.settimeout(prior)
        self.deadline.count(received)
        return received

    def chunk(self, size_hint: int | None = None) -> bytes:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise SlowClientError()
        # A caller's own, shorter timeout (gunicorn draining an unread body) stays in
        # force, and its expiry is its own business.
        prior = self.sock.gettimeout()
        ours = prior is None or remaining < prior
        self.sock.settimeout(remaining if ours else prior)
        try:
            data: bytes = super().chunk(size_hint)
        except TimeoutError:
            if ours:
                raise SlowClientError() from None
            raise
        finally:
            # Back to blocking for the response: a download to a slow reader is not
            # bounded by the request's deadline.
            self.sock.settimeout(prior)
        self.deadline.count(len(data))
        return data


_SERVER = dict(SECURITY_HEADERS)["Server"]


@contextmanager
def _write_deadline(sock: socket.socket, size: int, policy: ServingPolicy) -> Iterator[None]:
    """Bound one write of `size` bytes on the (blocking) socket.

    Python's timeout bounds a whole `sendall()`, not each of its sends (since 3.5), which
    is what the allowance in proportion to the size is for.
    """
    allowed = policy.send_grace_seconds + size / policy.send_min_rate_bytes_per_second
    prior = sock.gettimeout()
    sock.settimeout(allowed)
    try:
        yield
    except TimeoutError:
        raise SlowReaderError() from None
    finally:
        sock.settimeout(prior)


def _closed_by_client(conn: TConn) -> bool:
    """A kept-alive connection that became readable because its client closed it: no
    request can come, so it must not take one of its circuit's slots (a browser closes
    its old connection as it opens the next: counted, the dying one would refuse the
    new one). Peeked without blocking or consuming; a new connection is never closed
    here (its greeting was read)."""
    if not conn.initialized:
        return False
    try:
        return conn.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # reset: nothing to serve either


# The request on this thread releases its circuit's count through this, just before
# the last bytes of its answer are written (set and cleared by GuardedThreadWorker.handle).
_answer_ending = threading.local()


def _release_before_last_bytes() -> None:
    release: Callable[[], None] | None = getattr(_answer_ending, "release", None)
    if release is not None:
        _answer_ending.release = None
        release()


class _NeutralResponse(wsgi.Response):
    """gunicorn's response with deadlines on its writes, saying `Server: BackUp` instead
    of `Server: gunicorn`, releasing its circuit's count before its last bytes.

    gunicorn treats Server as its own (util.hop_headers): it drops the app's header and
    writes its name, so the apps' value is written here instead.

    The count is released before the last write, not after: a client may send its next
    request the moment the answer is complete, and must not find the finished request
    still counted against its circuit (a spurious 503). A slow reader's last write is
    still bounded by the write deadline.
    """

    policy: ServingPolicy = POLICY

    def send_headers(self) -> None:
        if self.headers_sent:
            return
        if self.response_length == 0 or self._omits_body:
            _release_before_last_bytes()  # the head is the whole answer
        with _write_deadline(self.sock, self.policy.limit_request_field_size, self.policy):
            super().send_headers()

    def _emit_body(self, data: bytes) -> None:
        # write() counted these bytes in `sent` already.
        if self.response_length is not None and self.sent >= self.response_length:
            _release_before_last_bytes()
        with _write_deadline(self.sock, len(data), self.policy):
            super()._emit_body(data)

    def close(self) -> None:
        _release_before_last_bytes()  # the final chunk, or a head not yet sent
        with _write_deadline(self.sock, 0, self.policy):
            super().close()

    def default_headers(self) -> list[str]:
        headers: list[str] = super().default_headers()
        return [
            f"Server: {_SERVER}\r\n" if line.lower().startswith("server:") else line
            for line in headers
        ]


@dataclass
class _Lingering:
    sock: socket.socket
    deadline: float
    drained: int = 0


# Status and reason of gunicorn's own refusals; any other error is a 500.
_REFUSALS: tuple[tuple[type[BaseException], int, str], ...] = (
    (http_errors.LimitRequestLine, 414, "URI Too Long"),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large"),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented"),
    (http_errors.ExpectationFailed, 417, "Expectation Failed"),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden"),
    (http_errors.ConfigurationProblem, 500, "Internal Server Error"),
)
_BAD_REQUESTS: tuple[type[BaseException], ...] = (
    http_errors.InvalidRequestLine,
    http_errors.InvalidRequestMethod,
    http_errors.InvalidHTTPVersion,
    http_errors.InvalidHeader,
    http_errors.InvalidHeaderName,
    http_errors.InvalidProxyLine,
    http_errors.InvalidSchemeHeaders,
    http_errors.ObsoleteFolding,
    http_errors.InvalidChunkSize,
    http_errors.ChunkMissingTerminator,
    http_errors.InvalidChunkExtension,
    http_errors.InvalidH2CPreface,
)


def error_status(exc: BaseException) -> tuple[int, str]:
    """The status gunicorn answers an error of its own with."""
    if isinstance(exc, (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)):
        return 500, "Internal Server Error"  # the app's fault, not the client's
    for kind, status, reason in _REFUSALS:
        if isinstance(exc, kind):
            return status, reason
    if isinstance(exc, _BAD_REQUESTS):
        return 400, "Bad Request"
    return 500, "Internal Server Error"


# The API's messages for gunicorn's refusals (fixed texts, as journalist_app/api/errors.py).
_API_MESSAGES = {
    400: "malformed request",
    403: "You are not allowed to do this.",
    414: "The request is too large.",
    417: "malformed request",
    431: "The request is too large.",
    501: "malformed request",
}
_API_PREFIX = "/api/"


def is_api_path(path: str | None) -> bool:
    """Is this raw request path the reviewer API's (as the app would route it)."""
    if path is None:
        return False
    decoded = unquote(path, errors="replace")
    return decoded.startswith(_API_PREFIX) or decoded == _API_PREFIX.rstrip("/")


def error_response(
    status: int, reason: str, extra: Sequence[tuple[str, str]] = (), *, api: bool = False
) -> bytes:
    """A complete HTTP/1.1 error response: our headers, a body that names nothing (on the
    API, its JSON error shape)."""
    if api:
        message = _API_MESSAGES.get(status, "Something went wrong. Try again later.")
        body = json.dumps({"error": reason, "message": message}).encode("ascii") + b"\n"
        content_type = "application/json"
    else:
        body = f"{status} {reason}\n".encode("ascii")
        content_type = "text/plain; charset=utf-8"
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Connection: close",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (*SECURITY_HEADERS, *extra)),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _PathKeepingRequest(Request):
    """gunicorn's request, whose parse errors carry the path once it was read: gunicorn
    refuses a bad header before the request exists, and its answer depends on the path."""

    def parse(self, unreader: Any) -> Any:
        try:
            return super().parse(unreader)
        except Exception as exc:
            if self.path is not None:
                setattr(exc, _REQUEST_PATH, self.path)
            raise


def _abort(sock: socket.socket) -> None:
    """Close at once with a reset: the client takes nothing more, so the bytes queued
    for it are dropped instead of kept by the kernel."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    util.close(sock)


@dataclass
class _Greeter:
    """A new connection whose request has not begun: it waits in the poller."""

    conn: TConn
    deadline: float
    data: bytearray = field(default_factory=bytearray)


class GuardedThreadWorker(ThreadWorker):
    """gthread with deadlines on reads and writes, a cap per circuit, circuit identity
    kept, neutral errors."""

    # Deadlines and the per-circuit cap: the same for both interfaces (SOURCE_POLICY
    # differs only in processes, threads, connections and upload slots, which
    # gunicorn's settings and the app carry).
    policy: ServingPolicy = POLICY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lingering: deque[_Lingering] = deque()
        self._greeters: deque[_Greeter] = deque()
        self._circuits = CircuitCounter(self.policy.circuit_requests)
        self._stopping_capped = False
        self._busy = error_response(
            503,
            "Service Unavailable",
            [("Retry-After", str(self.policy.circuit_retry_after_seconds))],
        )

    def init_process(self) -> None:
        # Before the app is loaded: its large blocks are mapped and unmapped from the start.
        set_mmap_threshold(self.policy.malloc_mmap_threshold_bytes)
        # wsgi.create() builds `wsgi.Response`; this process serves only our apps.
        _NeutralResponse.policy = self.policy
        wsgi.Response = _NeutralResponse
        super().init_process()

    # --- new connections: first bytes in the poller --------------------------------------

    def accept(self, listener: socket.socket) -> None:
        """gthread's accept, without handing the connection to a thread: it waits in
        the poller until its request begins (`_greet`), at most the head deadline."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        greeter = _Greeter(conn, time.monotonic() + self.policy.head_timeout_seconds)
        self._greeters.append(greeter)
        self.poller.register(client_sock, selectors.EVENT_READ, partial(self._greet, greeter))

    def _greet(self, greeter: _Greeter, _fileobj: object) -> None:
        sock = greeter.conn.sock
        try:
            data = sock.recv(_GREETING_READ)  # non-blocking (TConn made it so)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._end_greeting(greeter)
            self.nr_conns -= 1
            util.close(sock)
            return
        greeter.data += data
        greeting = read_greeting(bytes(greeter.data))
        if not greeting.ready:
            return
        self._end_greeting(greeter)
        conn = greeter.conn
        setattr(conn, _GREETING, bytes(greeter.data))
        setattr(conn, _CIRCUIT, greeting.circuit)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _end_greeting(self, greeter: _Greeter) -> None:
        try:
            self._greeters.remove(greeter)
        except ValueError:
            return
        try:
            self.poller.unregister(greeter.conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    # --- the cap per circuit -------------------------------------------------------------

    def enqueue_req(self, conn: TConn) -> None:
        """Every request reaches a thread through here (new, kept-alive, read-ahead):
        counted against its circuit, or refused at once past the cap."""
        circuit = getattr(conn, _CIRCUIT, None)
        if circuit is not None and not _closed_by_client(conn):
            if not self._circuits.take(circuit):
                self._refuse_busy(conn)
                return
            setattr(conn, _COUNTED, True)
        super().enqueue_req(conn)

    def _refuse_busy(self, conn: TConn) -> None:
        """The neutral 503, written by the main thread without reading the request; the
        connection then closes in the poller (its unread request drained there)."""
        self.nr_conns -= 1
        # No address: a circuit id in the journal would link a visitor's requests.
        self.log.info("refused a request: its circuit has too many in progress")
        try:
            util.write_nonblock(conn.sock, self._busy)
        except OSError:
            util.close(conn.sock)
            return
        self._linger(conn.sock)

    # --- deadlines -------------------------------------------------------------------

    def handle(self, conn: TConn) -> Any:
        """gthread's handle, with the connection's reader guarded before any read and
        given back the bytes the main thread read; the circuit's count released here,
        on this thread, once the answer is written."""
        # Released before the answer's last bytes (_NeutralResponse), or here at the
        # latest; not in finish_request: the main thread runs it only when it next
        # polls, and by then the client may have sent its next request, which would be
        # counted while the finished one still was (a spurious 503).
        _answer_ending.release = partial(self._release_circuit, conn)
        try:
            return self._handle_guarded(conn)
        finally:
            _answer_ending.release = None
            self._release_circuit(conn)

    def _handle_guarded(self, conn: TConn) -> Any:
        if not conn.initialized:
            conn.sock.setblocking(True)
            conn.init()
            deadline = _Deadline(self.policy)
            unreader = _GuardedUnreader(conn.sock, deadline)
            unreader.unread(getattr(conn, _GREETING, b""))
            setattr(conn, _GREETING, b"")
            conn.parser.unreader = unreader
            conn.parser.mesg_class = _PathKeepingRequest
            setattr(conn, _GUARD, deadline)
        getattr(conn, _GUARD).start_head()
        return super().handle(conn)

    def handle_request(self, req: Any, conn: TConn) -> bool:
        getattr(conn, _GUARD).start_body()
        req.body = direct_body(req.body)
        if req.proxy_protocol_info:
            setattr(conn, _PROXY_INFO, req.proxy_protocol_info)
        else:
            req.proxy_protocol_info = getattr(conn, _PROXY_INFO, None)
        try:
            return bool(super().handle_request(req, conn))
        except SlowReaderError:
            self.log.info("cut a client that stopped reading its answer")
            setattr(conn, _ABORT, True)
            return False

    # --- gunicorn's own answers --------------------------------------------------------

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status, reason = error_status(exc)
        # The class only: gunicorn's message would quote the request line or a header.
        if status >= 500:
            self.log.error("server error while serving a request: %s", type(exc).__name__)
        else:
            self.log.info("refused a malformed request: %s", type(exc).__name__)
        path = req.path if req is not None else getattr(exc, _REQUEST_PATH, None)
        try:
            util.write_nonblock(client, error_response(status, reason, api=is_api_path(path)))
        except Exception:
            self.log.debug("could not send the error response")

    # --- closing without blocking the main loop ----------------------------------------

    def finish_request(self, conn: TConn, fs: Future[Any]) -> None:
        # Normally released by `handle` already; a request whose thread never ran
        # (cancelled at shutdown) is released here. A read-ahead next request is
        # counted again by enqueue_req.
        self._release_circuit(conn)
        if getattr(conn, _ABORT, False):
            self.nr_conns -= 1
            _abort(conn.sock)
            return
        if fs.cancelled() or fs.exception() is not None or fs.result():
            super().finish_request(conn, fs)  # kept alive, deferred, or failed
            return
        self.nr_conns -= 1
        self._linger(conn.sock)

    def _release_circuit(self, conn: TConn) -> None:
        # Never concurrent for one connection: `handle` runs before the future is done,
        # finish_request after it, enqueue_req (which counts) after finish_request.
        if getattr(conn, _COUNTED, False):
            setattr(conn, _COUNTED, False)
            self._circuits.release(getattr(conn, _CIRCUIT))

    def _linger(self, sock: socket.socket) -> None:
        """Half-close now; read what the client still sends until it closes too, in the
        poller, at most `_LINGER_SECONDS` (RFC 9112 section 9.6, without the wait)."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            util.close(sock)
            return
        entry = _Lingering(sock, time.monotonic() + _LINGER_SECONDS)
        self._lingering.append(entry)
        self.poller.register(sock, selectors.EVENT_READ, partial(self._drain, entry))

    def _drain(self, entry: _Lingering, _fileobj: object) -> None:
        try:
            data = entry.sock.recv(8192)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            data = b""
        entry.drained += len(data)
        if not data or entry.drained >= _LINGER_MAX_BYTES:
            self._close_lingering(entry)

    def _close_lingering(self, entry: _Lingering) -> None:
        try:
            self._lingering.remove(entry)
        except ValueError:
            return
        try:
            self.poller.unregister(entry.sock)
        except (KeyError, ValueError, OSError):
            pass
        util.close(entry.sock)

    def murder_pending(self) -> None:
        """Called on every pass of the main loop: expire connections whose request has
        not begun, and lingering closes, too."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and not self._stopping_capped:
            # Stopping: like gthread's kept-alive connections, a request may still
            # begin for a moment (the capped deadlines keep the deque in order).
            self._stopping_capped = True
            for greeter in self._greeters:
                greeter.deadline = min(greeter.deadline, now + STOP_KEEPALIVE_LINGER)
        while self._greeters and self._greeters[0].deadline <= now:
            greeter = self._greeters[0]
            self._end_greeting(greeter)
            self.nr_conns -= 1
            util.close(greeter.conn.sock)
        while self._lingering and self._lingering[0].deadline <= now:
            self._close_lingering(self._lingering[0])
