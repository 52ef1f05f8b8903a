"""Reports per second with one and with two source backends on one shared database.

Two backends are two `backupctl serve source` processes (the serving command production
runs, gunicorn with web_shared/serving.py's policy) on one instance directory (the shared
store), one private PostgreSQL database and one private Redis (tests/support/servers.py,
as the test suite starts them): what two servers behind one onionbalance address share.
Both backends run in every measurement; with "one backend" every client goes to the
first and the second idles, with "two" the clients alternate between them. Durability is
the same in both: a report counts only once acknowledged (the redirect to /lookup, given
after the message is sealed, fsynced in the store and committed with its receipt).

A report is what a new source sends in a crisis: a codename (/generate, /create: scrypt
with the production parameters), then one message of about 1.5 KB (/lookup, /submit),
through tests/support/reports.py. `--clients` threads send `--reports` reports per
measurement; rounds alternate the order (one then two, two then one). Tor is not in the
path (the onion front adds latency per circuit, not server work). The machine's cores and
load average are printed before and after each measurement: other work on the machine
counts against both alike. At the end the receipt chain is verified and the number of
submissions compared with the reports acknowledged.

    .venv/bin/python -m bench.backends [--rounds 6] [--clients 8] [--reports 24]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from redis import Redis
from sqlalchemy import select

from composition.runtime import build_runtime
from keys.gpg import kill_agent
from keys.lifecycle import generate_submission_key
from keys.receipts import TrustedKeys
from tests.support.reports import NotAcknowledgedError, send_report
from tests.support.servers import free_port, postgres_server, redis_server
from tests.support.serving import app_spec, serving
from tests.support.submission_key import load_into_sealing_homes, stop_agents
from vault.config import load_config
from vault.migrate import upgrade
from vault.models import Submission
from vault.services import custody

MESSAGE = ("They came at night to the camp near the river; three of us were taken. " * 21)[:1500]
TIMEOUT = 120.0


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(urls: list[str], clients: int, reports: int) -> tuple[float, list[str]]:
    """Reports per second with `clients` threads sending `reports` in all, spread over
    `urls` in turn; and why those not acknowledged were not."""
    counter = iter(range(reports))
    lock = threading.Lock()
    failed: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        session = requests.Session()
        start.wait()
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            url = urls[number % len(urls)]
            try:
                send_report(session, url, f"{MESSAGE} #{index}.{number}", TIMEOUT)
            except (requests.RequestException, NotAcknowledgedError) as exc:
                failed.append(str(exc))
            session.cookies.clear()  # the next report is a new source

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return (reports - len(failed)) / elapsed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reports", type=int, default=24)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {loadavg()}")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bk-bb-")))
        database_url = stack.enter_context(postgres_server(work / "pg"))
        redis_url = stack.enter_context(redis_server(work / "redis"))
        env = {
            "BACKUP_INSTANCE_DIR": str(work / "instance"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
        }
        config = load_config(env, interface="source")
        load_config(env, interface="journalist")
        upgrade(database_url)
        # Made once, before the backends start, as a deployment copies it to each.
        runtime = build_runtime(config, redis=Redis.from_url(redis_url))
        stack.callback(runtime.engine.dispose)
        key = generate_submission_key(work / "ws", "bench submission passphrase")
        stack.callback(kill_agent, work / "ws")
        homes = load_into_sealing_homes(config, key.public_armored)
        stack.callback(stop_agents, homes)
        served = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BACKUP_", "TEST_")) and k not in ("REDIS_URL", "DATABASE_URL")
        }
        # Every client is 127.0.0.1 without tor's PROXY line: one new-source budget for
        # all of them, which a crisis over Tor (one budget per circuit) does not have.
        served.update(env, BACKUP_DEV_TOR="0", BACKUP_NEW_SOURCES_BURST="1000000")
        ports = [free_port(), free_port()]
        specs = [app_spec("source", p, work / f"backend{i}.log") for i, p in enumerate(ports)]
        stack.enter_context(serving(specs, served))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        _rate, warm_failed = measure(urls, args.clients, args.clients)  # warm-up
        not_acknowledged = len(warm_failed)
        rates: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(args.rounds):
            for backends in (1, 2) if round_ % 2 == 0 else (2, 1):
                before = loadavg()
                rate, failed = measure(urls[:backends], args.clients, args.reports)
                not_acknowledged += len(failed)
                rates[backends].append(rate)
                print(
                    f"round {round_ + 1}, {backends} backend(s): {rate:.2f} reports/s "
                    f"({args.reports} reports, {args.clients} clients, {len(failed)} not "
                    f"acknowledged; load {before} -> {loadavg()})"
                )
                for reason in sorted(set(failed)):
                    print(f"  not acknowledged: {reason}")
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print(f"median: one backend {one:.2f} reports/s, two backends {two:.2f} reports/s")
        # Within a round both sides ran back to back, under about the same load.
        paired = [b / a for a, b in zip(rates[1], rates[2], strict=True)]
        print(
            f"ratio two/one: {two / one:.2f} of the medians; per round "
            f"{', '.join(f'{r:.2f}' for r in paired)}, median {statistics.median(paired):.2f}"
        )
        crisis = 10_000 / 86_400
        print(
            f"a day at the medians: one backend {one * 86400:,.0f} reports, two backends "
            f"{two * 86400:,.0f}; 10,000 reports a day is {crisis:.3f} reports/s on average, "
            f"{one / crisis:.0f}x below one backend's median"
        )
        with runtime.session() as db:
            receipts = custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key]))
            submissions = len(db.scalars(select(Submission.id)).all())
        sent = args.clients + 2 * args.rounds * args.reports - not_acknowledged
        print(
            f"durability: {submissions} submissions stored for {sent} acknowledged; "
            f"receipt chain verified ({receipts} receipts)"
        )
        if submissions != sent:
            raise SystemExit("a report acknowledged but not stored")
        print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
