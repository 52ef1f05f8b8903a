"""How both apps are served, in production, in development and in the tests: one place.

Every number that decides how gunicorn treats a client lives here, in Python rather than
in a unit file, a shell line or a gunicorn config file, so that `backupctl serve` (what
systemd, `backupctl run` and the tests all start), the worker that enforces the
deadlines (`web_shared.serving_worker`) and the apps' upload cap (`web_shared.upload_slots`)
read the same values, and mypy checks them.

Why gthread: a source's upload through Tor arrives at tens of KB/s for many minutes.
gunicorn's sync worker must answer within `timeout` or be killed with the upload in it;
gthread's main loop sends its heartbeat every second (`ThreadWorker.run`:
`self.notify()` on each pass of the poller loop, whatever the threads are doing), so a
request may last as long as its client keeps sending. Threads, not processes, wait on
slow sockets, and a per-worker upload cap keeps threads free for pages.

This module imports neither gunicorn nor Flask: the apps read their cap from it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "APPS",
    "FEDERATION_POLICY",
    "POLICIES",
    "POLICY",
    "SOURCE_POLICY",
    "ServingPolicy",
    "gunicorn_settings",
    "parse_bind",
]

# The WSGI factory of each app `backupctl serve` knows.
APPS: Mapping[str, str] = {
    "source": "source_app:create_app",
    "journalist": "journalist_app:create_app",
    # Peer instances only, behind its own client-authorized onion service (federation/).
    "federation": "federation.app:create_app",
}


@dataclass(frozen=True)
class ServingPolicy:
    """gunicorn's worker model and every limit on a client's time and size."""

    # Processes per app (the source interface has one: see SOURCE_POLICY). More capacity
    # means more servers behind onionbalance (DESIGN.md), not more processes here.
    workers: int = 2
    # Threads per worker: each request being read or answered holds one (idle kept-alive
    # connections hold none). A waiting thread costs memory, not CPU: 32 leave room for
    # the upload cap below plus pages, and more than the 20 streams one Tor circuit may
    # open at once (onion/torrc.py), so one circuit cannot hold every thread of a worker.
    threads: int = 32
    # Uploads (a body larger than `upload_threshold_bytes`) one worker streams at once;
    # one more is answered 503 with Retry-After before its body is read. 32 - 8 = 24
    # threads always remain for pages.
    upload_slots: int = 8
    upload_threshold_bytes: int = 64 * 1024
    upload_retry_after_seconds: int = 60
    # Requests one Tor circuit (one address from tor's PROXY line) may have in progress
    # in one worker: being read, run or answered. One more is answered 503 with
    # Retry-After by the worker's main thread before a byte of it is read, so N circuits
    # hold at most 6·N threads of a worker, not 20·N (tor's streams per circuit). Tor
    # Browser opens at most 6 connections to a site (Firefox's
    # max-persistent-connections-per-server), one request at a time on each, and the
    # kernel spreads them over the workers. Connections without a PROXY line
    # (development, health checks, tests from 127.0.0.1) are not counted.
    circuit_requests: int = 6
    circuit_retry_after_seconds: int = 5
    # Heartbeat: a worker silent this long is killed by the master. gthread beats every
    # second whatever its requests do, so this only catches a stuck process.
    timeout: int = 60
    # On stop or restart, requests still running get this long to finish.
    graceful_timeout: int = 30
    # An idle kept-alive connection waits in the poller (no thread) this long. Over Tor
    # a click comes seconds after the previous page; 2 s (gunicorn's default) would
    # make nearly every page open a new stream.
    keepalive: int = 10
    # Connections per worker, kept-alive ones included (gunicorn's default is 1000).
    worker_connections: int = 256
    # The request line and head of a request must be complete this long after its first
    # byte (slowloris on headers). A real head is a few hundred bytes: one Tor cell.
    head_timeout_seconds: float = 20.0
    # A body may take `body_grace_seconds` plus one second per `body_min_rate` bytes
    # received so far; a client below that average is cut (slowloris on bodies). 4 KB/s
    # is five times slower than the slowest Tor upload we serve (20 KB/s), and the grace
    # absorbs a circuit's first stall.
    body_grace_seconds: float = 30.0
    body_min_rate_bytes_per_second: int = 4000
    # Each write of a response (a page, or one block of a download: 8 KiB for files)
    # may take `send_grace_seconds` plus one second per `send_min_rate` bytes written; a
    # client that stops reading (a paused download, a dead circuit) is then cut and its
    # thread freed. Per write, not per response: a download of any size that keeps
    # moving is never cut.
    send_grace_seconds: float = 30.0
    send_min_rate_bytes_per_second: int = 4000
    # Freed blocks from this size up go back to the kernel at once (web_shared.native_memory:
    # without it, login floods leave scrypt's 16 MiB blocks in glibc's thread arenas).
    # 0 keeps glibc's dynamic threshold.
    malloc_mmap_threshold_bytes: int = 4 * 1024 * 1024
    # gunicorn's own head limits, stated rather than inherited.
    limit_request_line: int = 4094
    limit_request_fields: int = 100
    limit_request_field_size: int = 8190

    def __post_init__(self) -> None:
        if not 0 < self.upload_slots < self.threads:
            raise ValueError("upload_slots must leave threads for pages")
        if not 0 < self.circuit_requests < self.threads:
            raise ValueError("circuit_requests must leave threads for other circuits")
        if self.send_grace_seconds <= 0 or self.send_min_rate_bytes_per_second <= 0:
            raise ValueError("writes must be given time")
        if self.worker_connections <= self.threads:
            raise ValueError("worker_connections must exceed threads (kept-alive room)")


# The reviewer interface's policy, and the default.
POLICY = ServingPolicy()
# The source interface: ONE worker process with the threads, upload slots and
# connections that two had (64 threads, 16 uploads at once, 48 threads always left for
# pages, 512 connections); every other limit as above. Memory: each worker holds its
# own copy of the app and its libraries (Flask, SQLAlchemy, cryptography, redis: ~85
# MiB RSS once serving; no preload, see backupctl/server/cmd_serve.py), so a second one
# doubled the interface's resting footprint for work that threads do as well: an
# upload's heavy parts (gpg, the hashes, deflate) and scrypt run outside the GIL.
# What one process trades away:
# - a worker that dies (killed, out of memory, missed heartbeat) cuts every request in
#   progress, not about half, and the interface answers nothing until the master has
#   forked a new one and it has loaded the app (about 1-2 s; connections wait in the
#   listen queue meanwhile, none is refused);
# - the app's Python work (pages, the multipart parser, sealing the cookie) runs on one
#   core at a time;
# - the per-circuit cap counts in one worker: one circuit holds at most 6 requests of
#   the interface, instead of 6 in each worker.
SOURCE_POLICY = replace(POLICY, workers=1, threads=64, upload_slots=16, worker_connections=512)
# The federation endpoint takes a few envelopes a day from known peers: one process.
FEDERATION_POLICY = replace(POLICY, workers=1)
POLICIES: Mapping[str, ServingPolicy] = {
    "source": SOURCE_POLICY,
    "journalist": POLICY,
    "federation": FEDERATION_POLICY,
}

# gunicorn's heartbeat file: in memory, not on disk (the default is /tmp).
# A tmpfs; gunicorn makes its own 0600 file there.
_WORKER_TMP_DIR = "/dev/shm"  # noqa: S108  # nosec B108


def parse_bind(bind: str) -> tuple[str, int]:
    """`127.0.0.1:PORT` only: the apps are reached through tor on the same machine."""
    host, sep, port_text = bind.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bind must be 127.0.0.1:PORT, got {bind!r}")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or host != "127.0.0.1":
        raise ValueError(f"the apps listen on 127.0.0.1 only, not {host!r}")
    return host, int(port_text)


def gunicorn_settings(bind: str, policy: ServingPolicy = POLICY) -> dict[str, Any]:
    """gunicorn's settings for one app on `bind` (names as in gunicorn.config)."""
    host, port = parse_bind(bind)
    settings: dict[str, Any] = {
        "bind": [f"{host}:{port}"],
        "worker_class": "web_shared.serving_worker.GuardedThreadWorker",
        "workers": policy.workers,
        "threads": policy.threads,
        "worker_connections": policy.worker_connections,
        "timeout": policy.timeout,
        "graceful_timeout": policy.graceful_timeout,
        "keepalive": policy.keepalive,
        "limit_request_line": policy.limit_request_line,
        "limit_request_fields": policy.limit_request_fields,
        "limit_request_field_size": policy.limit_request_field_size,
        # Tor prepends a PROXY v1 line naming the client's circuit
        # (HiddenServiceExportCircuitID haproxy): REMOTE_ADDR becomes
        # fc00:dead:beef:4dad::…, one address per circuit. Only tor, on 127.0.0.1, may
        # say so; a connection without the line (development) is served as it is.
        "proxy_protocol": "v1",
        "proxy_allow_ips": "127.0.0.1",
        # No X-Forwarded-* is believed from anyone: tor connects from 127.0.0.1 too,
        # and would carry a visitor's forged header.
        "forwarded_allow_ips": "",
        # Every body byte goes through the worker's bounded writes (sendfile would
        # bypass them); our files are small, and sealed.
        "sendfile": False,
        # No access log: request lines with times would record who did what when.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # gunicorn >= 25 opens a control socket in $HOME; two apps would collide.
        "control_socket_disable": True,
    }
    if os.path.isdir(_WORKER_TMP_DIR):
        settings["worker_tmp_dir"] = _WORKER_TMP_DIR
    return settings
