"""Upload throughput through the real path, side by side with the gpg CLI.

Starts the product as `backupctl run` does (`backupctl serve`, private Redis), from this
checkout's code, creates a source over HTTP, then streams a file as a multipart POST to
/submit and, in the same run, encrypts the same file with the gpg CLI to the same key.

Like for like: random data against `gpg --compress-algo none` (the product stores it
uncompressed); prose-like text (~2.9x at deflate level 1) against `gpg --compress-algo
zip --compress-level 1` (deflate level 1, as the product's gzip). Both sides fsync their
output file and its directory, and remove it after the run. A first run of each side,
not counted, warms both up (and is the first submission of the one source that makes
every upload of a kind, which records that source); then runs alternate (A B, B A).
The last sealed file of each kind is decrypted with the development key's secret half
and gunzipped, and its SHA-256 compared with the file sent.

Memory: the sum of VmRSS over the source app's processes (the gunicorn master and
workers of `backupctl serve source` found by PID tree under this run's `backupctl run`,
and the gpg processes they run), sampled every 100 ms during every upload; also the sum
over the whole tree of `backupctl run` (both apps, Redis, the worker). It prints each
upload's peak, and what each process held at the highest one (where to look when it
grows).

    .venv/bin/python -m bench.upload_throughput [--size-mib 1024] [--repeat 3]
        [--kinds random,text] [--client-nice 10]

The client sends the file with sendfile(2), from a thread at nice 10 (`--client-nice`):
it runs on the same cores as the server, and a real one (Tor Browser) is on another
machine.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1024 * 1024
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Prose-like text: sentences of words drawn with a Zipf law (exponent 1.3) from a
# 20,000-word invented vocabulary with English letter frequencies; deflate level 1
# compresses it about 2.9x (real prose: ~3x). 32 MiB of it, repeated (far beyond
# deflate's 32 KiB window, so the repetition gains neither side anything).
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_LETTER_WEIGHTS = (12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4,
                   2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07)  # fmt: skip
_TEXT_BLOCK = 32 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(size // CHUNK):
            handle.write(os.urandom(CHUNK))


def prose(size: int, seed: int = 18) -> bytes:
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    vocab: list[str] = []
    seen: set[str] = set()
    lengths = (1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12)
    while len(vocab) < 20_000:
        word = "".join(rng.choices(_LETTERS, _LETTER_WEIGHTS, k=rng.choice(lengths)))
        if word not in seen:
            seen.add(word)
            vocab.append(word)
    weights = [1 / (rank + 1) ** 1.3 for rank in range(len(vocab))]
    out: list[str] = []
    total = 0
    while total < size:
        words = rng.choices(vocab, weights, k=rng.randint(6, 28))
        words[0] = words[0].capitalize()
        for i in range(1, len(words) - 1):
            if rng.random() < 0.07:
                words[i] += ","
        sentence = (
            " ".join(words) + rng.choice(".....?!") + ("\n\n" if rng.random() < 0.15 else " ")
        )
        out.append(sentence)
        total += len(sentence)
    return "".join(out).encode()[:size]


def make_text(path: Path, size: int) -> None:
    block = prose(min(size, _TEXT_BLOCK))
    written = 0
    with open(path, "wb") as handle:
        while written < size:
            data = block[: size - written]
            handle.write(data)
            written += len(data)


def deflate_ratio(path: Path) -> float:
    with open(path, "rb") as handle:
        head = handle.read(_TEXT_BLOCK)
    return len(head) / len(zlib.compress(head, 1))


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


def descendants(root: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    tree = _children() if tree is None else tree
    found, todo = [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB. RSS counts the pages a forked worker shares with
    its master once per process; PSS divides each shared page among its sharers, so a
    sum of PSS is the memory the processes really take together."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _short_name(pid: int) -> str:
    """ "master", "worker" (a gunicorn worker: a fork of the master, same command line)
    or the program's name (gpg), for the breakdown of a peak."""
    line = cmdline(pid)
    if "backupctl serve" in line:
        return "worker" if "backupctl serve" in cmdline(_parent(pid)) else "master"
    return Path(line.split(" ", 1)[0]).name or str(pid)


def memory_sum(pids: Iterable[int]) -> tuple[int, int]:
    pairs = [memory_kib(pid) for pid in pids]
    return sum(r for r, _ in pairs), sum(p for _, p in pairs)


class RssSampler:
    """Peaks of the summed RSS and PSS of two process sets, sampled every 100 ms."""

    def __init__(self, app: Callable[[], Iterable[int]], tree: Callable[[], Iterable[int]]):
        self._app, self._tree = app, tree
        self.app_peak = self.tree_peak = self.app_pss_peak = self.tree_pss_peak = 0
        self.app_peak_detail: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = list(self._app())
        each = [(pid, *memory_kib(pid)) for pid in pids]
        rss, pss = sum(r for _, r, _ in each), sum(p for _, _, p in each)
        if rss > self.app_peak:
            # Which process held what at the peak: where to look when it grows.
            self.app_peak_detail = [(_short_name(pid), r) for pid, r, _ in each if r]
        self.app_peak, self.app_pss_peak = max(self.app_peak, rss), max(self.app_pss_peak, pss)
        rss, pss = memory_sum(self._tree())
        self.tree_peak, self.tree_pss_peak = max(self.tree_peak, rss), max(self.tree_pss_peak, pss)

    def merge(self, other: RssSampler) -> None:
        if other.app_peak > self.app_peak:
            self.app_peak_detail = other.app_peak_detail
        self.app_peak = max(self.app_peak, other.app_peak)
        self.tree_peak = max(self.tree_peak, other.tree_peak)
        self.app_pss_peak = max(self.app_pss_peak, other.app_pss_peak)
        self.tree_pss_peak = max(self.tree_pss_peak, other.tree_pss_peak)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of each process and of the children it has reaped (gpg)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / _TICKS


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
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
    while chunk := proc.stdout.read(CHUNK):
        digest.update(gunzip.decompress(chunk))
    digest.update(gunzip.flush())
    if proc.wait() != 0 or not gunzip.eof:
        raise RuntimeError(f"gpg could not decrypt {sealed.name}")
    return digest.hexdigest()


class Product:
    """`backupctl run` in a temporary instance."""

    def __init__(self, instance: Path, max_upload: int) -> None:
        self.instance = instance
        self.port = free_port()
        env = dict(os.environ)
        env.pop("REDIS_URL", None)
        env.update(
            BACKUP_INSTANCE_DIR=str(instance),
            BACKUP_SOURCE_PORT=str(self.port),
            BACKUP_JOURNALIST_PORT=str(free_port()),
            BACKUP_MAX_UPLOAD_BYTES=str(max_upload),
            # One client creates a source per upload here: past the per-client budget.
            BACKUP_NEW_SOURCES_BURST="100",
            # One source uploads every run of a kind: far past the default quota.
            BACKUP_SOURCE_QUOTA_MIB=str(1024 * 1024),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backupctl", "run"],
            # This checkout's code (`-m` puts the working directory first on the path),
            # whatever the virtualenv's editable install points at.
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("the product did not start")

    def fingerprint(self) -> str:
        return (self.instance / "submission_key.fpr").read_text().strip()

    def sealed_documents(self) -> set[Path]:
        return set((self.instance / "store").glob("*/*-doc.gz.gpg"))

    def source_app_pids(self) -> list[int]:
        """`backupctl serve source` under this run's `backupctl run` (its gunicorn master
        and workers), and everything they run (gpg): by PID tree, never by name alone."""
        tree = _children()
        serving = [
            pid
            for pid in descendants(self.proc.pid, tree)
            if "backupctl serve source" in cmdline(pid)
        ]
        found = set(serving)
        for pid in serving:
            found.update(descendants(pid, tree))
        return sorted(found)

    def all_pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)


def new_source(url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/generate").text
    token = _CSRF.search(page)
    assert token, "no CSRF token on /generate"
    session.post(url + "/create", data={"csrf_token": token.group(1)}).raise_for_status()
    return session


# The sending client's nice value (--client-nice): a real client is on another machine,
# so by default this one yields the two cores it shares with the server.
CLIENT_NICE = 10


def upload(
    url: str, session: requests.Session, path: Path, client_nice: int = CLIENT_NICE
) -> float:
    """POST /submit with the file sent by sendfile(2), from a thread whose nice value
    is `client_nice`; returns seconds."""
    done: list[float] = []
    failed: list[BaseException] = []

    def send() -> None:
        if client_nice:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), client_nice)
        try:
            done.append(_upload(url, session, path))
        except BaseException as exc:  # raised again on the caller's thread
            failed.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    sender.join()
    if failed:
        raise failed[0]
    return done[0]


def _upload(url: str, session: requests.Session, path: Path) -> float:
    token = _CSRF.search(session.get(url + "/lookup").text)
    assert token, "no CSRF token on /lookup"
    boundary = "----backupbench" + os.urandom(8).hex()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token.group(1)}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="msg"\r\n\r\n\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="fh"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    start = time.perf_counter()
    conn.putrequest("POST", "/submit")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Cookie", cookie)
    conn.endheaders()
    conn.send(head)
    # sendfile(2): the client shares the machine's cores with the server, so it sends
    # straight from the page cache instead of copying each MiB through Python.
    with open(path, "rb") as handle:
        assert conn.sock is not None
        conn.sock.sendfile(handle)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status not in (200, 302, 303):
        raise RuntimeError(f"upload failed: {response.status} {body[:200]!r}")
    return elapsed


GPG_COMPRESSION = {
    "random": ["--compress-algo", "none"],
    "text": ["--compress-algo", "zip", "--compress-level", "1"],
}


def gpg_baseline(instance: Path, fingerprint: str, path: Path, out: Path, kind: str) -> float:
    """The same file, the same key, the same compression as the product, fsynced (file
    and directory) like the store. The key is read from the source interface's own
    GnuPG home (each process has its own: vault.config.KEYRING_SIDES)."""
    start = time.perf_counter()
    subprocess.run(
        ["gpg", "--homedir", str(instance / "gnupg" / "source"), "--batch", "--yes", "--quiet",
         "--trust-model", "always", *GPG_COMPRESSION[kind], "--encrypt",
         "--recipient", fingerprint, "--output", str(out), str(path)],
        check=True,
    )  # fmt: skip
    with open(out, "rb") as handle:
        os.fsync(handle.fileno())
    fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - start
    out.unlink()
    return elapsed


def page_latency_during(
    url: str, uploads: list[tuple[requests.Session, Path]], client_nice: int
) -> tuple[float, float]:
    """Max latency of GET / when idle, and while the uploads run."""
    idle = []
    for _ in range(20):
        start = time.perf_counter()
        requests.get(url + "/", timeout=30)
        idle.append(time.perf_counter() - start)
    threads = [threading.Thread(target=upload, args=(url, s, p, client_nice)) for s, p in uploads]
    for thread in threads:
        thread.start()
    busy = []
    time.sleep(0.2)
    while any(t.is_alive() for t in threads):
        start = time.perf_counter()
        requests.get(url + "/", timeout=30)
        busy.append(time.perf_counter() - start)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    return max(idle), max(busy) if busy else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description="BackUp upload throughput vs gpg")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians")
    parser.add_argument(
        "--kinds", default="random,text", help="which data to upload (comma-separated)"
    )
    parser.add_argument(
        "--client-nice",
        type=int,
        default=CLIENT_NICE,
        choices=range(20),
        metavar="0-19",
        help="the sending client's nice value (0: the server's own priority)",
    )
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if not kinds or set(kinds) - set(GPG_COMPRESSION):
        parser.error(f"--kinds: choose from {', '.join(GPG_COMPRESSION)}")
    size = args.size_mib * CHUNK
    print(
        f"file size: {args.size_mib} MiB, {args.repeat} alternating runs per side; client "
        f"at nice {args.client_nice}; machine: {os.cpu_count()} CPUs; load average at start "
        f"{loadavg()}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=os.environ.get("BENCH_DIR")))
    product = Product(work / "instance", max_upload=size + 16 * CHUNK)
    results = []
    checks = []
    run_peaks: list[str] = []
    sampler = RssSampler(product.source_app_pids, product.all_pids)
    idle = RssSampler(product.source_app_pids, product.all_pids)
    try:
        new_source(product.url)  # every worker has served a page (one, at least)
        idle.sample()
        fingerprint = product.fingerprint()
        for kind, maker in (("random", make_random), ("text", make_text)):
            if kind not in kinds:
                continue
            data = work / ("random.bin" if kind == "random" else "text.txt")
            maker(data, size)
            if kind == "text":
                print(f"text: deflate level 1 compresses it {deflate_ratio(data):.2f}x")
            sent_sha256 = file_sha256(data)
            ours_runs: list[float] = []
            theirs_runs: list[float] = []
            ours_cpu: list[float] = []
            theirs_cpu: list[float] = []
            # Run 0 warms both sides up (pages, caches) and is not counted; it is also
            # this source's first submission, which records the source (its reply key,
            # two scrypt derivations): the counted runs time the upload path alone.
            session = new_source(product.url)
            for run in range(args.repeat + 1):
                order = ("ours", "gpg") if run % 2 == 1 else ("gpg", "ours")
                counted = run > 0
                for side in order:
                    # Flush dirty pages first: neither pays the other's writeback.
                    os.sync()
                    if side == "gpg":
                        cpu = children_cpu_seconds()
                        out = work / "baseline.gpg"  # removed after the run, as ours is
                        seconds = gpg_baseline(product.instance, fingerprint, data, out, kind)
                        if counted:
                            theirs_runs.append(seconds)
                            theirs_cpu.append(children_cpu_seconds() - cpu)
                        continue
                    before = product.sealed_documents()
                    app = product.source_app_pids()
                    cpu = cpu_seconds(app)
                    with RssSampler(product.source_app_pids, product.all_pids) as one:
                        seconds = upload(product.url, session, data, args.client_nice)
                    if counted:
                        ours_runs.append(seconds)
                        ours_cpu.append(cpu_seconds(app) - cpu)
                    sampler.merge(one)
                    run_peaks.append(
                        f"{kind} {'run ' + str(run) if run else 'warm-up'} "
                        f"{one.app_peak / 1024:.0f}"
                    )
                    [sealed] = product.sealed_documents() - before
                    if run == args.repeat:
                        if decrypt_sha256(product.instance, sealed) != sent_sha256:
                            raise RuntimeError(f"{sealed.name} does not decrypt to the file sent")
                        checks.append(
                            f"{kind}: {sealed.name} decrypted and gunzipped: SHA-256 matches"
                        )
                    sealed.unlink()
                if not counted:
                    continue
                print(
                    f"  {kind} run {run} ({' then '.join(order)}): BackUp "
                    f"{ours_runs[-1]:.2f} s ({ours_cpu[-1]:.2f} CPU-s), "
                    f"gpg {theirs_runs[-1]:.2f} s "
                    f"({theirs_cpu[-1]:.2f} CPU-s); load {loadavg()}",
                    flush=True,
                )
            mib = size / CHUNK
            results.append(
                (
                    kind,
                    mib / statistics.median(ours_runs),
                    mib / statistics.median(theirs_runs),
                    statistics.median(ours_cpu) * 1024 / mib,
                    statistics.median(theirs_cpu) * 1024 / mib,
                )
            )
            data.unlink()
        small = work / "concurrent.bin"
        make_random(small, min(size, 256 * CHUNK))
        sessions = [new_source(product.url), new_source(product.url)]
        with RssSampler(product.source_app_pids, product.all_pids) as both:
            idle_ms, busy_ms = page_latency_during(
                product.url, [(s, small) for s in sessions], args.client_nice
            )
        product_pids = [
            (pid, cmdline(pid).split(" ", 3)[-1][:40]) for pid in product.source_app_pids()
        ]
    finally:
        product.stop()
        shutil.rmtree(work, ignore_errors=True)
    for kind, ours, theirs, ours_cpu_gib, theirs_cpu_gib in results:
        baseline = " ".join(GPG_COMPRESSION[kind])
        print(
            f"{kind:>6}: BackUp upload {ours:7.1f} MiB/s | gpg {baseline} {theirs:7.1f} MiB/s "
            f"| ratio {ours / theirs:.2f}"
        )
        print(
            f"        CPU-seconds per GiB (medians): BackUp's source app with its gpg "
            f"{ours_cpu_gib:.2f}, gpg CLI {theirs_cpu_gib:.2f} (the sending client in neither)"
        )
    for line in checks:
        print(line)
    pids = product_pids
    print(f"source app processes (by PID tree): {pids}")
    print("memory, summed over processes (RSS / PSS, MiB): source app = `backupctl serve")
    print("source` (gunicorn master, workers) and the gpg they run; tree = all of `backupctl run`")
    for label, m in (
        ("idle, before the uploads", idle),
        (f"peak during the {args.repeat} single {args.size_mib} MiB uploads", sampler),
        (f"peak during two concurrent {min(args.size_mib, 256)} MiB uploads", both),
    ):
        print(
            f"  {label}: source app {m.app_peak / 1024:.0f} / {m.app_pss_peak / 1024:.0f}; "
            f"tree {m.tree_peak / 1024:.0f} / {m.tree_pss_peak / 1024:.0f}"
        )
        if m is sampler:
            print(f"    source app's peak RSS in each upload (MiB): {', '.join(run_peaks)}")
        detail = ", ".join(f"{name} {kib / 1024:.1f}" for name, kib in m.app_peak_detail)
        print(f"    source app at its peak, RSS by process (MiB): {detail}")
    print(
        f"GET / latency: idle max {idle_ms * 1000:.0f} ms, "
        f"during two uploads {busy_ms * 1000:.0f} ms"
    )
    print(f"load average at end {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
