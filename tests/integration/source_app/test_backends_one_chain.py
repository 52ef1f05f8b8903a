"""Two backends (two `backupctl serve source` processes, as two servers behind one onion
address run them) on one PostgreSQL database: sources sending to both at once get every
submission acknowledged, and the custody receipts stay one chain - `vault.chain` takes a
PostgreSQL advisory lock around each append, so no two backends read the same head."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from composition.runtime import Runtime
from keys.receipts import TrustedKeys
from tests.support.reports import NotAcknowledgedError, send_report
from tests.support.servers import free_port
from tests.support.serving import app_spec, serving
from vault.models import CustodyReceipt, Submission
from vault.services import custody

BACKENDS = 2
SOURCES_PER_BACKEND = 4
REPORTS_PER_SOURCE_THREAD = 3

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def backend_env(runtime: Runtime) -> dict[str, str]:
    config = runtime.config
    assert config.redis_url is not None
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BACKUP_", "TEST_")) and key not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        BACKUP_INSTANCE_DIR=str(config.instance_dir),
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        BACKUP_SCRYPT_N="16",
        BACKUP_DEV_TOR="0",
        # Every client here is 127.0.0.1 without a PROXY line: one budget for all. The
        # chain is under test, not the new-source budget (tests/integration/web_shared).
        BACKUP_NEW_SOURCES_BURST="10000",
    )
    return env


def test_two_backends_append_to_one_receipt_chain(runtime: Runtime, tmp_path: Path) -> None:
    ports = [free_port() for _ in range(BACKENDS)]
    specs = [app_spec("source", port, tmp_path / f"backend{i}.log") for i, port in enumerate(ports)]
    threads = BACKENDS * SOURCES_PER_BACKEND
    start = threading.Barrier(threads)
    acknowledged: dict[int, list[str]] = {port: [] for port in ports}
    failed: list[str] = []

    def reports(port: int, thread: int) -> None:
        start.wait()  # every thread starts at once: appends to the chain overlap
        for index in range(REPORTS_PER_SOURCE_THREAD):
            message = f"report {thread}.{index} via {port}"
            try:
                send_report(requests.Session(), f"http://127.0.0.1:{port}", message, 60)
            except (requests.RequestException, NotAcknowledgedError) as exc:
                failed.append(f"{message}: {exc}")
            else:
                acknowledged[port].append(message)

    with serving(specs, backend_env(runtime)):
        workers = [
            threading.Thread(target=reports, args=(ports[t % BACKENDS], t)) for t in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=300)

    assert not failed
    expected = SOURCES_PER_BACKEND * REPORTS_PER_SOURCE_THREAD
    assert [len(acknowledged[port]) for port in ports] == [expected] * BACKENDS
    with runtime.session() as db:
        verified = custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key]))
        seqs = db.scalars(select(CustodyReceipt.seq).order_by(CustodyReceipt.seq)).all()
        submissions = len(db.scalars(select(Submission.id)).all())
    assert submissions == BACKENDS * expected
    # One chain, no fork, no gap: every receipt verified, seqs consecutive.
    assert verified == len(seqs) >= submissions
    assert list(seqs) == list(range(seqs[0], seqs[0] + len(seqs)))
