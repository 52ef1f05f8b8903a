"""Where the CPU of one upload goes: per-thread CPU time of the source app and its gpg.

Starts the product as `bench.upload_throughput` does (`backupctl run` from this
checkout), creates a source, uploads random data once to warm up, then `--uploads` more
times, one after the other, while it samples `/proc/<pid>/task/<tid>/stat` of the source
app's processes (gunicorn master, worker, and the gpg the worker runs) every 50 ms. For
each measured upload it prints each thread's CPU seconds (user, system), largest first,
the time it was ready to run but waited for a core (`schedstat`), and the sending
client's own CPU time (a thread at nice 10, as in bench.upload_throughput). For gpg,
the upload's time less its CPU time and its wait for a core is the time it was blocked
on its pipes.
Thread names are the kernel's (`python`, `gpg`); which Python thread is which shows
from the split (user time is hashing; the request thread's is mostly system time).

A breakdown, not a ratio: run `bench.upload_throughput` for the side-by-side figures.

    .venv/bin/python -m bench.upload_profile [--size-mib 1024] [--uploads 1]

Several uploads show whether the cost of one drifts within one run of the product (it
did not: a run of five, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.upload_throughput import Product, loadavg, make_random, new_source, upload

_TICKS = os.sysconf("SC_CLK_TCK")


Times = tuple[float, float, int, float]


def thread_cpu(pids: list[int]) -> dict[tuple[int, int, str], Times]:
    """(pid, tid, name) -> (user, system) CPU seconds so far, the nice value and the
    seconds spent waiting for a core so far, for every thread of `pids`."""
    found: dict[tuple[int, int, str], Times] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                schedstat = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            except FileNotFoundError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            found[(pid, int(tid), name)] = (
                int(fields[11]) / _TICKS,
                int(fields[12]) / _TICKS,
                int(fields[16]),
                int(schedstat[1]) / 1e9,
            )
    return found


def _clear(product: Product) -> None:
    """Remove the sealed uploads and flush, as bench.upload_throughput does after each
    run: no writeback of earlier files during the next upload."""
    for sealed in product.sealed_documents():
        sealed.unlink()
    os.sync()


def measure(product: Product, session: requests.Session, data: Path, label: str) -> None:
    """Upload `data` once while sampling the source app's threads; print the split."""
    seen: dict[tuple[int, int, str], Times] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.update(thread_cpu(product.source_app_pids()))
            time.sleep(0.05)

    before = thread_cpu(product.source_app_pids())
    sampler = threading.Thread(target=sample)
    sampler.start()
    start = os.times()
    seconds = upload(product.url, session, data)
    end = os.times()
    stop.set()
    sampler.join()
    client = end.user - start.user + end.system - start.system
    print(f"{label}: {seconds:.2f} s; the sending client (this process) {client:.2f} CPU-s")
    total = 0.0
    rows = []
    for key, (user, system, nice, waited) in seen.items():
        user0, system0, _, waited0 = before.get(key, (0.0, 0.0, 0, 0.0))
        spent = (user - user0, system - system0)
        if sum(spent) > 0:
            rows.append((sum(spent), key, spent, nice, waited - waited0))
    for spent_total, (pid, tid, name), (user, system), nice, waited in sorted(rows, reverse=True):
        total += spent_total
        print(f"  {name:8} pid {pid} thread {tid} (nice {nice}): {spent_total:.2f} CPU-s "
              f"(user {user:.2f}, system {system:.2f}), waited for a core "
              f"{waited:.2f} s")  # fmt: skip
    print(f"  source app and its gpg, sampled every 50 ms: {total:.2f} CPU-s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument(
        "--uploads", type=int, default=1, help="measured uploads, one after the other"
    )
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="backup-upload-profile-"))
    try:
        data = work / "random.bin"
        make_random(data, size)
        product = Product(work / "instance", 2 * size + 10_000_000)
        try:
            session = new_source(product.url)
            upload(product.url, session, data)  # warm-up: not measured
            _clear(product)
            print(f"file size: {args.size_mib} MiB; machine: {os.cpu_count()} CPUs; "
                  f"load average at start {loadavg()}")  # fmt: skip
            for number in range(1, args.uploads + 1):
                measure(product, session, data, f"upload {number} of {args.uploads}")
                _clear(product)
        finally:
            product.stop()
        print(f"load average at end {loadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
