"""One round of bench/care_latency.py's code path (no figures).

A fresh `backupctl run` with its worker, two accounts made by `backupctl admin create`,
the analyst put on care duty on the admin page, an urgent care request and an
evidence-only one sent by new sources over HTTP, the real SMTP and webhook receivers,
and the click count in Chromium. Checks that each thing was measured and that the
notifications carried nothing of the requests, so the benchmark does not rot between
the runs that produce figures (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
import json
import shutil
from types import ModuleType

import pytest

from tests.support.product import make_instance_root


def _bench() -> ModuleType:
    return importlib.import_module("bench.care_latency")


@pytest.mark.browser
def test_one_round_measures_queue_inbox_notifications_and_clicks() -> None:
    bench = _bench()
    work = make_instance_root()  # a short path for gpg-agent's sockets
    lines: list[str] = []
    try:
        report = bench.measure(work, 1, 0.2, lines.append)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    (measured,) = report.rounds
    # Each moment was taken after the Send (the figures are the benchmark's business).
    for name in ("care_queue", "inbox", "mail", "webhook", "smtp_floor", "webhook_floor"):
        assert getattr(measured, name) > 0, name
    assert len(lines) == 1 and "care queue" in lines[0]
    # One notification per channel per urgent care request (the round's and the click
    # count's), none for the evidence-only request; nothing of any request in them.
    assert len(report.mails) == 2 and len(report.posts) == 2
    assert [json.loads(body) for body in report.posts] == [{"event": "care_waiting"}] * 2
    for raw in report.mails:
        assert b"Subject: BackUp: something is waiting in the care queue" in raw
        for contact in report.contacts:
            assert contact.encode() not in raw
        for word in (b"medical", b"market", b"bench"):
            assert word not in raw.lower()
    # The whole way from the login page to the answer, as the reviewer clicks it.
    assert report.clicks.steps[0] == "open the login page"
    assert report.clicks.steps[-1] == "click Send encrypted answer"
    assert report.clicks.clicks >= 4 and report.clicks.fields >= 4
    # A request waits untaken at login: the on-duty reviewer lands on the care queue.
    assert "click Care queue" not in report.clicks.steps
    assert report.clicks.loads == report.clicks.clicks + 1
