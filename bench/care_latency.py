"""An urgent ASSIST request, from the source's Send to the on-duty reviewer: how long
until the care queue shows it and the notifications arrive (goal: at most 60 s), side by
side with today's path (the same Send on the evidence path only, until the reviewer's
inbox shows the new submission); and how many clicks from login to an answer sent.

One fresh `backupctl run` instance (as bench/tor_speed_uploads.py starts it:
BACKUP_DEV_TOR=0, free ports on 127.0.0.1; the apps under `backupctl serve`, the RQ
worker that sends notifications), with care notifications configured to an SMTP server
(aiosmtpd) and a webhook receiver run here on 127.0.0.1 (tests/support/receivers.py).
Two accounts are made with `backupctl admin create` as an admin would: an admin, who
logs in over HTTP and puts the analyst on care duty on the reviewer's admin page, and
the analyst, logged in over HTTP (passphrase + TOTP), who polls the pages.

Each round: a new source (over HTTP, on its own circuit) sends the urgent ASSIST form
(recent=yes, urgency=today) on the care path; the reviewer polls GET /care/ until the
request (its unique contact text, i.e. opened with the reviewer's key) shows. Then the
baseline: another new source sends the same form with care_path=evidence; the reviewer
polls the inbox (GET /) until one more source is listed. Order alternates (A B, B A).
Floors for the notifications: a mail sent here with smtplib and a POST sent here to the
same receivers.

Each round is independent of the coalescing of notifications (vault/notifications.py):
BACKUP_NOTIFY_INTERVAL_SECONDS=1, the lowest outside production, and each side starts
more than 1 s after the previous side's notifications arrived, so the `sent` keys have
expired and no delivery is pending: every care request is the first in its interval.

    .venv/bin/python -m bench.care_latency [--rounds 5] [--poll-interval 0.2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sized
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import requests

from bench.care_accounts import Account, Reviewer, create_account, csrf, put_on_duty
from bench.care_clicks import Clicks, count_clicks
from bench.tor_speed_uploads import (
    HOST,
    BackUp,
    CircuitConnection,
    fetch,
    loadavg,
    percentile,
)
from tests.support.receivers import SmtpInbox, WebhookInbox, smtp_server, webhook_server

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

NOTIFY_TIMEOUT = 180.0  # seconds: a round fails rather than wait longer
INTERVAL_SECONDS = 1  # BACKUP_NOTIFY_INTERVAL_SECONDS: the lowest outside production
URGENT = {"recent": "yes", "needs": "medical", "urgency": "today", "contact": "other"}
_INBOX_ROW = '<tr class="source'


class Sources:
    """New sources over HTTP, each on its own circuit (its own creation budget)."""

    def __init__(self, port: int) -> None:
        self.port, self.circuit = port, 0

    def ready(self) -> tuple[CircuitConnection, dict[str, str], str]:
        """A new source with the ASSIST form open: (connection, cookies, CSRF token)."""
        self.circuit += 1
        conn, cookies = CircuitConnection(self.port, self.circuit), dict[str, str]()
        token = csrf(fetch(conn, "GET", "/generate", cookies))
        fetch(conn, "POST", "/create", cookies, {"csrf_token": token})
        return conn, cookies, csrf(fetch(conn, "GET", "/help/form", cookies))


def send(
    source: tuple[CircuitConnection, dict[str, str], str],
    path: str,
    contact: str,
    sent: dict[str, float],
) -> None:
    conn, cookies, token = source
    form = {**URGENT, "contact_details": contact, "care_path": path, "csrf_token": token}
    sent["t_send"] = time.time()
    fetch(conn, "POST", "/help/form", cookies, form)
    sent["answered"] = time.time()
    conn.close()


def poll(
    reviewer: Reviewer, path: str, shown: Callable[[str], bool], interval: float, gets: list[float]
) -> float:
    """GET `path` every `interval` s until `shown`; the moment the answer that shows it
    arrived (wall clock). Each GET's duration goes to `gets`."""
    deadline = time.monotonic() + NOTIFY_TIMEOUT
    while time.monotonic() < deadline:
        started = time.monotonic()
        page = reviewer.page(path)
        gets.append(time.monotonic() - started)
        if shown(page):
            return time.time()
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    raise RuntimeError(f"{path} did not show the request within {NOTIFY_TIMEOUT:.0f} s")


def wait_for(items: Sized, count: int) -> None:
    deadline = time.monotonic() + NOTIFY_TIMEOUT
    while len(items) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count - len(items)} notification(s) never arrived")
        time.sleep(0.01)


@dataclass
class Round:
    care_queue: float = 0.0  # seconds from t_send
    mail: float = 0.0
    webhook: float = 0.0
    care_answer: float = 0.0  # the source's POST answered
    inbox: float = 0.0
    evidence_answer: float = 0.0
    smtp_floor: float = 0.0  # a mail sent here with smtplib, until received
    webhook_floor: float = 0.0
    order: str = ""


@dataclass
class Report:
    rounds: list[Round]
    gets: dict[str, list[float]]  # every reviewer GET while polling, by path
    clicks: Clicks
    mails: list[bytes]  # as received, for the content check
    posts: list[bytes]
    contacts: list[str]  # what the care requests said, never to be in a notification


def care_side(env: Env, index: int, result: Round) -> None:
    contact = f"care-bench round {index} {os.urandom(4).hex()} call at the market"
    env.contacts.append(contact)
    source = env.sources.ready()
    mails, posts = len(env.smtp.messages), len(env.hook.posts)
    sent: dict[str, float] = {}
    sender = threading.Thread(target=send, args=(source, "care", contact, sent))
    sender.start()
    seen = poll(
        env.reviewer, "/care/", lambda page: contact in page, env.interval, env.gets["/care/"]
    )
    sender.join()
    wait_for(env.smtp.messages, mails + 1)
    wait_for(env.hook.posts, posts + 1)
    result.care_queue = seen - sent["t_send"]
    result.care_answer = sent["answered"] - sent["t_send"]
    result.mail = env.smtp.messages[mails].received_at - sent["t_send"]
    result.webhook = env.hook.posts[posts].received_at - sent["t_send"]
    # The floors: the same receivers, reached directly from here.
    message = EmailMessage()
    message["From"], message["To"] = "bench@example.org", "duty@example.org"
    message["Subject"] = "floor"
    message.set_content("floor")
    started = time.time()
    with smtplib.SMTP(HOST, env.smtp.port, timeout=30) as smtp:
        smtp.send_message(message)
    wait_for(env.smtp.messages, mails + 2)
    result.smtp_floor = env.smtp.messages[mails + 1].received_at - started
    started = time.time()
    requests.post(env.hook.url, json={"event": "floor"}, timeout=30)
    wait_for(env.hook.posts, posts + 2)
    result.webhook_floor = env.hook.posts[posts + 1].received_at - started


def evidence_side(env: Env, index: int, result: Round) -> None:
    source = env.sources.ready()
    before = env.reviewer.page("/").count(_INBOX_ROW)
    sent: dict[str, float] = {}
    contact = f"evidence-bench round {index} {os.urandom(4).hex()}"
    sender = threading.Thread(target=send, args=(source, "evidence", contact, sent))
    sender.start()
    seen = poll(
        env.reviewer, "/", lambda page: page.count(_INBOX_ROW) > before, env.interval, env.gets["/"]
    )
    sender.join()
    result.inbox = seen - sent["t_send"]
    result.evidence_answer = sent["answered"] - sent["t_send"]


@dataclass
class Env:
    server: BackUp
    smtp: SmtpInbox
    hook: WebhookInbox
    reviewer: Reviewer
    analyst: Account
    sources: Sources
    interval: float
    gets: dict[str, list[float]] = field(default_factory=lambda: {"/care/": [], "/": []})
    contacts: list[str] = field(default_factory=list)


@contextmanager
def instance(work: Path, interval: float) -> Iterator[Env]:
    with ExitStack() as stack:
        smtp = stack.enter_context(smtp_server())
        hook = stack.enter_context(webhook_server())
        server = BackUp(
            work,
            {
                "BACKUP_NOTIFY_SMTP_HOST": HOST,
                "BACKUP_NOTIFY_SMTP_PORT": str(smtp.port),
                "BACKUP_NOTIFY_SMTP_STARTTLS": "0",  # aiosmtpd here offers none
                "BACKUP_NOTIFY_SMTP_FROM": "backup@example.org",
                "BACKUP_NOTIFY_EMAIL_TO": "care-duty@example.org",
                "BACKUP_NOTIFY_WEBHOOK_URL": hook.url,
                "BACKUP_NOTIFY_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
            },
        )
        stack.callback(server.stop)
        admin = create_account(server, "bench-admin", "admin")
        analyst = create_account(server, "bench-duty", "analyst")
        put_on_duty(server, admin, analyst.username)
        reviewer = Reviewer(server.journalist_port)
        reviewer.login(analyst)
        stack.callback(reviewer.conn.close)
        yield Env(server, smtp, hook, reviewer, analyst, Sources(server.port), interval)


def measure(work: Path, rounds: int, interval: float, log: Callable[[str], None]) -> Report:
    results = []
    with instance(work, interval) as env:
        for index in range(rounds):
            result = Round()
            sides = [("care", care_side), ("evidence", evidence_side)]
            if index % 2:
                sides.reverse()
            for _name, side in sides:
                time.sleep(INTERVAL_SECONDS + 0.5)  # the last `sent` key has expired
                side(env, index, result)
            result.order = " ".join(name for name, _side in sides)
            results.append(result)
            log(
                f"  round {index + 1} ({result.order}): care queue {result.care_queue:.2f} s, "
                f"mail {result.mail:.2f} s, webhook {result.webhook:.2f} s "
                f"(Send answered {result.care_answer:.2f} s); inbox {result.inbox:.2f} s "
                f"(Send answered {result.evidence_answer:.2f} s); floors: smtplib "
                f"{result.smtp_floor * 1000:.1f} ms, POST {result.webhook_floor * 1000:.1f} ms"
            )
        source = env.sources.ready()
        contact = f"care-bench clicks {os.urandom(4).hex()}"
        env.contacts.append(contact)
        time.sleep(INTERVAL_SECONDS + 0.5)
        send(source, "care", contact, {})
        clicks = count_clicks(env.server, env.analyst, env.reviewer.login_step, contact)
        mails = [m.raw for m in env.smtp.messages if b"Subject: floor" not in m.raw]
        posts = [p.body for p in env.hook.posts if b'"floor"' not in p.body]
        return Report(results, env.gets, clicks, mails, posts, env.contacts)


def _row(label: str, values: list[float], show: Callable[[float], str]) -> str:
    return f"| {label} | {show(statistics.median(values))} | {show(max(values))} |"


def main() -> int:
    parser = argparse.ArgumentParser(description="care request latency and clicks")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=0.2, help="seconds")
    args = parser.parse_args()
    if args.rounds < 1 or args.poll_interval <= 0:
        parser.error("--rounds at least 1, --poll-interval above 0")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; load "
        f"average at start {loadavg()}; rounds: {args.rounds}; the reviewer polls every "
        f"{args.poll_interval:g} s",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bk-care-", dir=os.environ.get("BENCH_DIR")))
    try:
        report = measure(work, args.rounds, args.poll_interval, lambda s: print(s, flush=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end {loadavg()}")
    rs = report.rounds

    def s(value: float) -> str:
        return f"{value:.2f} s"

    def ms(value: float) -> str:
        return f"{value * 1000:.1f} ms"

    print(f"\nrounds: {len(rs)}; seconds from the source's Send (POST /help/form sent):")
    print("| | median | max |\n|---|---|---|")
    for label, get, show in [
        ("care queue shows the request (GET /care/)", lambda r: r.care_queue, s),
        ("inbox shows the submission (baseline, GET /)", lambda r: r.inbox, s),
        ("notification e-mail received", lambda r: r.mail, s),
        ("notification webhook received", lambda r: r.webhook, s),
        ("Send answered, care path", lambda r: r.care_answer, s),
        ("Send answered, evidence path", lambda r: r.evidence_answer, s),
        ("floor: smtplib mail sent here, received", lambda r: r.smtp_floor, ms),
        ("floor: POST sent here, received", lambda r: r.webhook_floor, ms),
    ]:
        print(_row(label, [get(r) for r in rs], show))

    def ratio(get: Callable[[Round], float], base: Callable[[Round], float]) -> str:
        return f"{statistics.median(map(get, rs)) / statistics.median(map(base, rs)):.2f}"

    print(f"care queue ÷ inbox (medians): {ratio(lambda r: r.care_queue, lambda r: r.inbox)}")
    mail = ratio(lambda r: r.mail, lambda r: r.smtp_floor)
    hook = ratio(lambda r: r.webhook, lambda r: r.webhook_floor)
    print(f"e-mail ÷ smtplib floor: {mail}; webhook ÷ POST floor: {hook}")
    worst = max(max(r.mail, r.webhook) for r in rs)
    print(
        f"goal ≤ 60 s from Send to notification: {'met' if worst <= 60 else 'NOT met'} "
        f"(slowest notification {worst:.2f} s)"
    )
    print(f"resolution: one poll every {args.poll_interval:g} s plus one GET:")
    for path, gets in report.gets.items():
        p95 = f", p95 {ms(percentile(gets, 0.95))}" if len(gets) >= 20 else ""
        print(
            f"  GET {path}: {len(gets)} GETs, median {ms(statistics.median(gets))}{p95}, "
            f"max {ms(max(gets))}"
        )
    c = report.clicks
    print(
        f"login page to answer sent, in Chromium without JavaScript: {c.clicks} clicks, "
        f"{c.fields} fields typed, {c.loads} page loads ({', '.join(c.steps)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
