"""Uploads at Tor speed through the production serving path, side by side with a bare
receiver under the same serving policy.

BackUp side: `backupctl run` in a fresh instance (private Redis, SQLite, a development
key; each app under `backupctl serve`, i.e. gunicorn with web_shared/serving.py's policy and
guarded gthread worker). N sources are created over HTTP, then N uploads to /submit run
at once, each on its own connection opened with a PROXY v1 line naming its own circuit
(as tor sends with HiddenServiceExportCircuitID), paced on the client side like a Tor
circuit: 498-byte cells sent in bursts, optionally jittered, averaging RATE.

Baseline side: the same gunicorn settings and worker (`backupctl serve`'s GunicornServer
with `gunicorn_settings`) around a bare WSGI app that parses the multipart body with
Werkzeug and writes the file unencrypted to disk, fsynced: the cost floor of receiving
at that pace. Same clients, same data, same PROXY lines.

A prober (its own circuit) measures `GET /` idle, then all through the uploads. Sides
alternate (A B, then B A, ...) and medians are printed.

    .venv/bin/python -m bench.tor_speed_uploads [--size-mib 8] [--count 3]
        [--rate-kbps 40] [--cells-per-burst 4] [--jitter 0.3] [--alternations 2]

`--size-mib 500` is the largest upload the product accepts (config max_upload_bytes;
the file is trimmed by the few hundred bytes of the form around it): at 40 KB/s that
is ~3.6 h per side.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import http.cookies
import os
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from web_shared.serving import POLICY

ROOT = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"
MIB = 1024 * 1024
CELL = 498  # data bytes in one Tor relay cell
MAX_UPLOAD_BYTES = 500 * MIB  # vault.config.DEFAULT_MAX_UPLOAD, the production default
IO_TIMEOUT = 120.0
CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# --- the baseline app (imported by gunicorn's workers from this file) ---------------


def create_baseline_app() -> Callable[..., Any]:
    """WSGI: POST parses the multipart form and writes its file, fsynced; GET a page."""
    from werkzeug.formparser import parse_form_data

    out_dir = Path(os.environ["BENCH_BASELINE_DIR"])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":
            body = b"<!doctype html><title>baseline</title><p>baseline page</p>"
            start_response(
                "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
            )
            return [body]
        opened: list[Any] = []

        def stream_factory(*_args: Any, **_kwargs: Any) -> Any:
            handle = tempfile.NamedTemporaryFile(dir=out_dir, prefix=".partial-", delete=False)
            opened.append(handle)
            return handle

        _stream, _form, _files = parse_form_data(environ, stream_factory=stream_factory)
        for handle in opened:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.rename(handle.name, out_dir / Path(handle.name).name.removeprefix(".partial-"))
        dir_fd = os.open(out_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        start_response("303 See Other", [("Location", "/"), ("Content-Length", "0")])
        return [b""]

    return app


def serve_baseline(bind: str) -> None:
    """Run the baseline under `backupctl serve`'s gunicorn and settings (this process
    is the master)."""
    from backupctl.server.cmd_serve import GunicornServer
    from web_shared.serving import gunicorn_settings

    GunicornServer("bench.tor_speed_uploads:create_baseline_app", gunicorn_settings(bind)).run()


# --- processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        for child in tree.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of each process and of the children it has reaped (gpg)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])
    return ticks / _CLK_TCK


def peak_rss_mib(pids: Iterable[int]) -> tuple[float, float]:
    """(largest VmHWM, sum of VmHWM) in MiB."""
    peaks = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return (max(peaks, default=0.0), sum(peaks))


# --- the two servers ----------------------------------------------------------------


class Server:
    """A running side: its URL, its app's processes, what it received."""

    name = ""
    port = 0
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode})")
            try:
                if requests.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer")

    def app_pids(self) -> list[int]:
        raise NotImplementedError

    def prepare(self, count: int) -> list[tuple[dict[str, str], dict[str, str]]]:
        """(form fields, headers) for each upload."""
        return [({"msg": ""}, {}) for _ in range(count)]

    def verify(self, sent: list[str], answers: list[Result]) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class CircuitConnection(http.client.HTTPConnection):
    """A stream of one circuit: every connection it opens starts with its PROXY line."""

    def __init__(self, port: int, circuit: int) -> None:
        super().__init__(HOST, port, timeout=60)
        self._line = circuit_line(circuit)

    def connect(self) -> None:
        super().connect()
        self.sock.sendall(self._line)


def fetch(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    cookies: dict[str, str],
    form: dict[str, str] | None = None,
) -> str:
    """One request with the cookies so far; keeps the ones set; the page's text."""
    headers = {"Host": f"{HOST}:{conn.port}"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode(errors="replace")
    if response.status >= 400:
        raise RuntimeError(f"{method} {path}: {response.status}")
    for header in response.headers.get_all("Set-Cookie") or []:
        for name, morsel in http.cookies.SimpleCookie(header).items():
            cookies[name] = morsel.value
    return text


class BackUp(Server):
    name = "BackUp"

    def __init__(
        self, work: Path, extra_env: dict[str, str] | None = None, root: Path = ROOT
    ) -> None:
        """`backupctl run` of the tree at `root` (another checkout: the same venv)."""
        self.root = root
        self.instance = work / "instance"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "TEST_"))}
        env.pop("REDIS_URL", None)
        env.pop("DATABASE_URL", None)
        env.update(
            BACKUP_INSTANCE_DIR=str(self.instance),
            BACKUP_SOURCE_PORT=str(self.port),
            BACKUP_JOURNALIST_PORT=str(free_port()),
            BACKUP_DEV_TOR="0",  # the bench is the circuit: PROXY lines on 127.0.0.1
        )
        env.update(extra_env or {})
        self.env = env
        self.journalist_port = int(env["BACKUP_JOURNALIST_PORT"])
        self.log = open(work / "backup.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backupctl", "run"],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def app_pids(self) -> list[int]:
        """The source app's gunicorn master and workers (`backupctl serve source`)."""
        serving = [
            pid for pid in descendants(self.proc.pid) if "backupctl serve source" in cmdline(pid)
        ]
        masters = [pid for pid in serving if not any(pid in descendants(p) for p in serving)]
        return masters + [pid for pid in serving if pid not in masters]

    def redis_pids(self) -> list[int]:
        return [pid for pid in descendants(self.proc.pid) if "redis-server" in cmdline(pid)]

    def prepare(self, count: int) -> list[tuple[dict[str, str], dict[str, str]]]:
        """A new source per upload, over HTTP as a browser does, on the circuit its
        upload will use (each source is its own client for the creation budget)."""
        prepared = []
        for index in range(count):
            conn = CircuitConnection(self.port, index + 1)
            cookies: dict[str, str] = {}
            try:
                token = CSRF_TOKEN.search(fetch(conn, "GET", "/generate", cookies))
                if not token:
                    raise RuntimeError("no CSRF token on /generate")
                fetch(conn, "POST", "/create", cookies, {"csrf_token": token.group(1)})
                token = CSRF_TOKEN.search(fetch(conn, "GET", "/lookup", cookies))
                if not token:
                    raise RuntimeError("no CSRF token on /lookup")
            finally:
                conn.close()
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            prepared.append(({"csrf_token": token.group(1), "msg": ""}, {"Cookie": cookie}))
        return prepared

    def sealed(self) -> list[Path]:
        return sorted((self.instance / "store").glob("*/*-doc.gz.gpg"))

    def verify(self, sent: list[str], answers: list[Result]) -> str:
        sealed = self.sealed()
        if len(sealed) != len(sent):
            raise RuntimeError(f"{len(sealed)} sealed documents for {len(sent)} uploads")
        with contextlib.closing(sqlite3.connect(self.instance / "backup.sqlite")) as db:
            rows = dict(db.execute("SELECT filename, size FROM submissions"))
        missing = [path.name for path in sealed if path.name not in rows]
        if missing:
            raise RuntimeError(f"sealed without a committed row: {missing}")
        plaintext = decrypt_sha256(self.instance, sealed[0])
        if plaintext not in sent:
            raise RuntimeError(f"{sealed[0].name} decrypts to none of the files sent")
        return (
            f"{len(sealed)} sealed in the store, {len(sealed)} rows committed, "
            f"{sealed[0].name} decrypted with the development key: SHA-256 matches"
        )

    def stop(self) -> None:
        super().stop()
        self.log.close()
        for home in ("gnupg", "dev-workstation-gnupg"):
            subprocess.run(
                ["gpgconf", "--homedir", str(self.instance / home), "--kill", "all"],
                capture_output=True,
                check=False,
            )


class Baseline(Server):
    name = "baseline"

    def __init__(self, work: Path) -> None:
        self.out_dir = work / "received"
        self.out_dir.mkdir()
        self.port = free_port()
        env = dict(os.environ, BENCH_BASELINE_DIR=str(self.out_dir))
        self.log = open(work / "baseline.log", "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.tor_speed_uploads",
                "--serve-baseline",
                f"{HOST}:{self.port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def app_pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def verify(self, sent: list[str], answers: list[Result]) -> str:
        received = [p for p in self.out_dir.iterdir() if not p.name.startswith(".partial-")]
        hashes = sorted(file_sha256(path) for path in received)
        if hashes != sorted(sent):
            raise RuntimeError("the files written are not the files sent")
        return f"{len(received)} files written and fsynced, all SHA-256 match"

    def stop(self) -> None:
        super().stop()
        self.log.close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def decrypt_sha256(instance: Path, sealed: Path) -> str:
    """SHA-256 of what a sealed document holds: OpenPGP (the development key's secret
    half, in the stand-in workstation keyring), then gzip, streamed."""
    proc = subprocess.Popen(
        ["gpg", "--homedir", str(instance / "dev-workstation-gnupg"), "--batch", "--quiet",
         "--pinentry-mode", "loopback",
         "--passphrase-file", str(instance / "dev-workstation-passphrase"),
         "--decrypt", str(sealed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
    digest = hashlib.sha256()
    while chunk := proc.stdout.read(MIB):
        digest.update(gunzip.decompress(chunk))
    digest.update(gunzip.flush())
    if proc.wait() != 0:
        raise RuntimeError(f"gpg could not decrypt {sealed.name}")
    return digest.hexdigest()


# --- the clients --------------------------------------------------------------------


@dataclass
class Pace:
    rate: float  # bytes per second, on average
    cells_per_burst: int
    jitter: float  # each burst's interval times uniform(1 - jitter, 1 + jitter)


@dataclass
class Result:
    status: int
    seconds: float
    body: bytes = b""


def circuit_line(index: int) -> bytes:
    """What tor prepends for a stream on circuit `index` (HiddenServiceExportCircuitID)."""
    address = f"fc00:dead:beef:4dad::{index >> 16:x}:{index & 0xFFFF:x}"
    return f"PROXY TCP6 {address} ::1 {index} 80\r\n".encode()


def _form_parts(fields: dict[str, str], filename: str) -> tuple[str, bytes, bytes]:
    boundary = "----torbench" + os.urandom(8).hex()
    head = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in fields.items()
        )
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="fh"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
    )
    return f"multipart/form-data; boundary={boundary}", head, f"\r\n--{boundary}--\r\n".encode()


FORM_OVERHEAD = 1024  # fields, boundaries and part heads: far more than they take


def _read_answer(sock: socket.socket, started: float) -> Result:
    try:
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    except (http.client.HTTPException, ConnectionError):
        return Result(0, time.monotonic() - started)
    return Result(response.status, time.monotonic() - started, body)


def paced_upload(
    port: int,
    circuit: int,
    fields: dict[str, str],
    headers: dict[str, str],
    path: Path,
    pace: Pace,
    rng: random.Random,
) -> Result:
    """POST /submit on a new stream of `circuit`; the body leaves in bursts of
    `cells_per_burst` cells on a schedule averaging `pace.rate`. Stops sending if the
    server answers early (a refusal), and reads the answer."""
    content_type, head, tail = _form_parts(fields, path.name)
    length = len(head) + path.stat().st_size + len(tail)
    request_head = "\r\n".join(
        ["POST /submit HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close",
         f"Content-Type: {content_type}", f"Content-Length: {length}"]
        + [f"{name}: {value}" for name, value in headers.items()]
    ).encode("latin-1") + b"\r\n\r\n"  # fmt: skip
    burst = CELL * pace.cells_per_burst
    with (
        socket.create_connection((HOST, port), timeout=IO_TIMEOUT) as sock,
        open(path, "rb") as data,
    ):
        started = time.monotonic()
        # PROXY line and request head: one cell or two, sent at once as tor does.
        sock.sendall(circuit_line(circuit) + request_head)
        pending = head
        due = time.monotonic()
        try:
            while True:
                while len(pending) < burst:
                    more = data.read(MIB)
                    if not more:
                        break
                    pending += more
                if not pending:
                    if tail:
                        pending, tail = tail, b""
                        continue
                    break
                piece, pending = pending[:burst], pending[burst:]
                sock.sendall(piece)
                due += len(piece) / pace.rate * rng.uniform(1 - pace.jitter, 1 + pace.jitter)
                readable, _w, _x = select.select([sock], [], [], max(due - time.monotonic(), 0))
                if readable:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_answer(sock, started)


@dataclass
class Probe:
    """`GET /` every `interval` seconds, each on a new circuit (a visitor's first page;
    it also keeps the prober clear of any per-circuit request cap)."""

    port: int
    circuit: int
    interval: float
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def once(self) -> None:
        request = f"GET / HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nConnection: close\r\n\r\n"
        started = time.monotonic()
        try:
            with socket.create_connection((HOST, self.port), timeout=IO_TIMEOUT) as sock:
                sock.sendall(circuit_line(self.circuit + len(self.seconds)) + request.encode())
                answer = _read_answer(sock, started)
            if answer.status != 200:
                self.failures.append(str(answer.status))
        except OSError as exc:
            self.failures.append(type(exc).__name__)
        self.seconds.append(time.monotonic() - started)

    def run(self, samples: int) -> None:
        for _ in range(samples):
            self.once()
            time.sleep(self.interval)

    @contextlib.contextmanager
    def background(self) -> Iterator[Probe]:
        def loop() -> None:
            while not self._stop.is_set():
                self.once()
                self._stop.wait(self.interval)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(IO_TIMEOUT + 10)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- one side, one run --------------------------------------------------------------


@dataclass
class SideRun:
    ratios: list[float]  # completion ÷ ideal, per upload
    cpu: float
    redis_cpu: float | None
    rss_max: float
    rss_sum: float
    idle_p50: float
    idle_p95: float
    busy_p50: float
    busy_p95: float
    busy_max: float
    probes: int
    probe_failures: int
    verified: str


def run_side(
    make: Callable[[Path], Server],
    work: Path,
    files: list[Path],
    sent: list[str],
    pace: Pace,
    probe_interval: float,
    seed: int,
) -> SideRun:
    os.sync()  # neither side pays for the other's dirty pages
    server = make(work)
    try:
        prepared = server.prepare(len(files))
        idle = Probe(server.port, 10_000, probe_interval)
        idle.run(20)
        pids = server.app_pids()
        redis = server.redis_pids() if isinstance(server, BackUp) else []
        cpu_before, redis_before = cpu_seconds(pids), cpu_seconds(redis)
        results: list[Result | None] = [None] * len(files)

        def upload(index: int) -> None:
            fields, headers = prepared[index]
            results[index] = paced_upload(
                server.port, index + 1, fields, headers, files[index], pace,
                random.Random(seed * 100 + index),  # noqa: S311  # pacing, not secrets
            )  # fmt: skip

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(files))]
        with Probe(server.port, 20_000, probe_interval).background() as busy:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        cpu = cpu_seconds(pids) - cpu_before
        redis_cpu = cpu_seconds(redis) - redis_before if redis else None
        rss_max, rss_sum = peak_rss_mib(pids)
        answers = [result for result in results if result is not None]
        bad = [a for a in answers if a.status not in (200, 302, 303)]
        if bad or len(answers) != len(files):
            raise RuntimeError(
                f"{server.name}: uploads failed: {[(a.status, a.body[:200]) for a in bad]}"
            )
        verified = server.verify(sent, answers)
        ideal = files[0].stat().st_size / pace.rate
        return SideRun(
            ratios=[a.seconds / ideal for a in answers],
            cpu=cpu,
            redis_cpu=redis_cpu,
            rss_max=rss_max,
            rss_sum=rss_sum,
            idle_p50=percentile(idle.seconds, 0.5),
            idle_p95=percentile(idle.seconds, 0.95),
            busy_p50=percentile(busy.seconds, 0.5),
            busy_p95=percentile(busy.seconds, 0.95),
            busy_max=max(busy.seconds),
            probes=len(busy.seconds),
            probe_failures=len(idle.failures) + len(busy.failures),
            verified=verified,
        )
    finally:
        server.stop()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description="uploads at Tor speed, BackUp vs a bare receiver")
    parser.add_argument("--size-mib", type=float, default=8.0, help="each upload (max 500)")
    parser.add_argument("--count", type=int, default=3, help="concurrent uploads")
    parser.add_argument("--rate-kbps", type=float, default=40.0, help="KB/s (1000 B) each")
    parser.add_argument("--cells-per-burst", type=int, default=4, help="498-byte cells")
    parser.add_argument("--jitter", type=float, default=0.0, help="0..1, per-burst interval")
    parser.add_argument("--alternations", type=int, default=2, help="runs of each side")
    parser.add_argument("--probe-interval", type=float, default=0.5, help="seconds")
    parser.add_argument("--serve-baseline", metavar="BIND", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    size = int(args.size_mib * MIB)
    if size > MAX_UPLOAD_BYTES:
        parser.error("--size-mib: the product accepts at most 500 MiB (max_upload_bytes)")
    if not 0 <= args.jitter < 1 or args.count < 1 or args.cells_per_burst < 1:
        parser.error("--jitter in [0, 1), --count and --cells-per-burst at least 1")
    if args.count > POLICY.upload_slots:
        print(f"note: more uploads than one worker's {POLICY.upload_slots} upload slots")
    # The limit is on the whole request body: the largest file leaves room for the form.
    size = min(size, MAX_UPLOAD_BYTES - FORM_OVERHEAD)
    pace = Pace(args.rate_kbps * 1000, args.cells_per_burst, args.jitter)
    ideal = size / pace.rate
    sides = 2 * args.alternations
    print(
        f"{args.count} concurrent uploads of {size:,} bytes at {args.rate_kbps:g} KB/s each "
        f"({args.cells_per_burst} cells of {CELL} B per burst, jitter {args.jitter:g}); "
        f"ideal duration {ideal:.0f} s ({ideal / 3600:.2f} h) per side, "
        f"{sides} sides: at least {sides * ideal / 60:.0f} min in all",
        flush=True,
    )
    print(
        f"machine: {os.cpu_count()} CPUs; load average at start {loadavg()}; "
        f"serving policy: {POLICY.workers} workers x {POLICY.threads} threads, "
        f"{POLICY.upload_slots} upload slots each",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bk-tor-", dir=os.environ.get("BENCH_DIR")))
    files = []
    for index in range(args.count):
        path = work / f"upload-{index}.bin"
        with open(path, "wb") as handle:
            left = size
            while left:
                handle.write(os.urandom(min(MIB, left)))
                left -= min(MIB, left)
        files.append(path)
    sent = [file_sha256(path) for path in files]
    makers: dict[str, Callable[[Path], Server]] = {"BackUp": BackUp, "baseline": Baseline}
    runs: dict[str, list[SideRun]] = {"BackUp": [], "baseline": []}
    for turn in range(args.alternations):
        order = ["BackUp", "baseline"] if turn % 2 == 0 else ["baseline", "BackUp"]
        for name in order:
            side_dir = work / f"{name}-{turn}"
            side_dir.mkdir()
            started = time.monotonic()
            run = run_side(makers[name], side_dir, files, sent, pace, args.probe_interval, turn)
            runs[name].append(run)
            print(
                f"  run {turn + 1} {name:>8}: completion/ideal "
                f"{', '.join(f'{r:.3f}' for r in run.ratios)}; CPU {run.cpu:.1f} s; "
                f"GET / p95 {_ms(run.busy_p95)} (idle {_ms(run.idle_p95)}); "
                f"{time.monotonic() - started:.0f} s wall; {run.verified}",
                flush=True,
            )
    print(f"load average at end {loadavg()}")

    def med(name: str, get: Callable[[SideRun], float]) -> float:
        return statistics.median(get(run) for run in runs[name])

    def worst(name: str) -> float:
        return max(max(run.ratios) for run in runs[name])

    print(f"\nmedians of {args.alternations} alternating runs per side:")
    print("| | BackUp | baseline | BackUp/baseline |\n|---|---|---|---|")
    rows: list[tuple[str, Callable[[SideRun], float], Callable[[float], str]]] = [
        ("completion ÷ ideal (median upload)", lambda r: statistics.median(r.ratios),
         "{:.3f}".format),
        ("completion ÷ ideal (slowest upload)", lambda r: max(r.ratios), "{:.3f}".format),
        ("app CPU-seconds during the uploads", lambda r: r.cpu, "{:.1f} s".format),
        ("peak RSS, largest app process", lambda r: r.rss_max, "{:.0f} MiB".format),
        ("peak RSS, app processes summed", lambda r: r.rss_sum, "{:.0f} MiB".format),
        ("GET / p50 idle", lambda r: r.idle_p50, _ms),
        ("GET / p95 idle", lambda r: r.idle_p95, _ms),
        ("GET / p50 during uploads", lambda r: r.busy_p50, _ms),
        ("GET / p95 during uploads", lambda r: r.busy_p95, _ms),
        ("GET / max during uploads", lambda r: r.busy_max, _ms),
    ]  # fmt: skip
    for label, get, show in rows:
        ours, theirs = med("BackUp", get), med("baseline", get)
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        print(f"| {label} | {show(ours)} | {show(theirs)} | {ratio} |")
    redis = [run.redis_cpu for run in runs["BackUp"] if run.redis_cpu is not None]
    if redis:
        print(f"BackUp's private Redis (not counted above): {statistics.median(redis):.1f} CPU-s")
    print(
        f"slowest upload of any run: BackUp {worst('BackUp'):.3f}, "
        f"baseline {worst('baseline'):.3f} x ideal; GET / probes during uploads: "
        f"{sum(r.probes for r in runs['BackUp'])} BackUp, "
        f"{sum(r.probes for r in runs['baseline'])} baseline; failed probes: "
        f"{sum(r.probe_failures for r in runs['BackUp'] + runs['baseline'])}"
    )
    print(f"every upload completed and verified ({args.count * args.alternations} per side)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
