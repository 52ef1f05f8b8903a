"""Upload throughput through the real path, side by side with the gpg CLI.

Starts the product as `backupctl run` does (`backupctl serve`, private Redis),
creates a source over HTTP, then streams a file as a multipart POST to /submit and, in
the same run, encrypts the same file with `gpg --compress-algo none` to the same key.
Prints both throughputs, their ratio, the source app's peak RSS, and how long a small
page takes while two uploads run at once.

    .venv/bin/python bench/upload_throughput.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1024 * 1024
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_WORDS = (
    "they came at night and took the water and the goats from the village "
    "near the river the soldiers wore green uniforms"
).split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_random(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        for _ in range(size // CHUNK):
            handle.write(os.urandom(CHUNK))


def make_text(path: Path, size: int) -> None:
    line_no = 0
    written = 0
    with open(path, "wb") as handle:
        while written < size:
            block = []
            for _ in range(2000):
                line_no += 1
                words = " ".join(_WORDS[(line_no * 7 + i) % len(_WORDS)] for i in range(12))
                block.append(f"{line_no:09d} {words}\n")
            data = "".join(block).encode()[: size - written]
            handle.write(data)
            written += len(data)


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
        )
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/backupctl"), "run"],
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
        out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [
            int(line.split()[0]) for line in out.splitlines() if "backupctl serve source" in line
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)


def peak_rss_mib(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            continue
    return peak / 1024


def new_source(url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/generate").text
    token = _CSRF.search(page)
    assert token, "no CSRF token on /generate"
    session.post(url + "/create", data={"csrf_token": token.group(1)}).raise_for_status()
    return session


def upload(url: str, session: requests.Session, path: Path) -> float:
    """POST /submit with the file streamed in 1 MiB writes; returns seconds."""
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
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status not in (200, 302, 303):
        raise RuntimeError(f"upload failed: {response.status} {body[:200]!r}")
    return elapsed


def gpg_baseline(instance: Path, fingerprint: str, path: Path, out: Path) -> float:
    """The same file, the same key, gpg without compression, fsynced like the store."""
    start = time.perf_counter()
    subprocess.run(
        ["gpg", "--homedir", str(instance / "gnupg"), "--batch", "--yes", "--quiet",
         "--trust-model", "always", "--compress-algo", "none", "--encrypt",
         "--recipient", fingerprint, "--output", str(out), str(path)],
        check=True,
    )  # fmt: skip
    with open(out, "rb") as handle:
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    out.unlink()
    return elapsed


def page_latency_during(
    url: str, uploads: list[tuple[requests.Session, Path]]
) -> tuple[float, float]:
    """Max latency of GET / when idle, and while the uploads run."""
    idle = []
    for _ in range(20):
        start = time.perf_counter()
        requests.get(url + "/", timeout=30)
        idle.append(time.perf_counter() - start)
    threads = [threading.Thread(target=upload, args=(url, s, p)) for s, p in uploads]
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
    args = parser.parse_args()
    size = args.size_mib * CHUNK
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=os.environ.get("BENCH_DIR")))
    product = Product(work / "instance", max_upload=size + 16 * CHUNK)
    try:
        fingerprint = product.fingerprint()
        results = []
        for kind, maker in (("random", make_random), ("text", make_text)):
            data = work / ("random.bin" if kind == "random" else "text.txt")
            maker(data, size)
            ours_runs, theirs_runs = [], []
            for _ in range(args.repeat):
                # Alternate, and flush dirty pages first: neither pays the other's writeback.
                os.sync()
                before = product.sealed_documents()
                ours_runs.append(upload(product.url, new_source(product.url), data))
                [sealed] = product.sealed_documents() - before
                if sealed.stat().st_size < (size if kind == "random" else size // 50):
                    raise RuntimeError(f"sealed file too small: {sealed.stat().st_size}")
                sealed.unlink()
                os.sync()
                theirs_runs.append(
                    gpg_baseline(product.instance, fingerprint, data, work / "baseline.gpg")
                )
            mib = size / CHUNK
            results.append(
                (kind, mib / statistics.median(ours_runs), mib / statistics.median(theirs_runs))
            )
            data.unlink()
        rss = peak_rss_mib(product.source_app_pids())
        small = work / "concurrent.bin"
        make_random(small, min(size, 256 * CHUNK))
        sessions = [new_source(product.url), new_source(product.url)]
        idle, busy = page_latency_during(product.url, [(s, small) for s in sessions])
    finally:
        product.stop()
    print(
        f"file size: {args.size_mib} MiB, median of {args.repeat} alternating runs; "
        f"machine: {os.cpu_count()} cores"
    )
    for kind, ours, theirs in results:
        print(
            f"{kind:>6}: BackUp upload {ours:7.1f} MiB/s | gpg CLI {theirs:7.1f} MiB/s "
            f"| ratio {ours / theirs:.2f}"
        )
    print(f"source app peak RSS (max over its gunicorn processes): {rss:.0f} MiB")
    print(f"GET / latency: idle max {idle * 1000:.0f} ms, during two uploads {busy * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
