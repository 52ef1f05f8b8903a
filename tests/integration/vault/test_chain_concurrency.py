"""Both hash chains (audit log, custody receipts) under concurrent writers, on a SQLite
file and on PostgreSQL: every append commits, none fails, and both chains verify.

The writers go through the real services: failed reviewer logins (each appends an audit
event, as a flood of wrong logins does), and transactions that append to both chains in
either order (a reply's receipt and its audit event)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from keys.receipts import TrustedKeys
from tests.support.journalist import FAST_HASHER
from vault import audit_chain
from vault.config import Budget
from vault.errors import AuthenticationError
from vault.models import AuditEvent, CustodyReceipt
from vault.services import audit, custody, reviewer_login
from vault.throttle import ClientBudget

THREADS = 8
ROUNDS = 12


def _receipt(db: Session) -> None:
    custody.append(
        db,
        kind="message",
        object_uuid=str(uuid.uuid4()),
        filename="1-test-msg.gpg",
        size=1,
        sha256="0" * 64,
        sealed_to=[],
    )


def _run_threads(work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(index: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            try:
                work(index * ROUNDS + round_)
            except BaseException as exc:  # collected: the assertion lists them all
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_concurrent_failed_logins_all_audit_and_the_chain_verifies(runtime: Runtime) -> None:
    # A budget that never runs out: every attempt reaches the database.
    budget = ClientBudget(runtime.redis, "chain-test", Budget(burst=10_000, interval_seconds=1))

    def wrong_login(n: int) -> None:
        with runtime.session() as db:
            try:
                reviewer_login.authenticate(
                    db, budget, f"client{n}", f"nobody{n}", "wrong", "000000", hasher=FAST_HASHER
                )
            except AuthenticationError:
                return
            raise AssertionError("a wrong login was accepted")

    errors = _run_threads(wrong_login)
    assert errors == []
    with runtime.session() as db:
        failed = db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login_failed")
        )
        report = audit_chain.verify(db)
    assert failed == THREADS * ROUNDS
    assert report.ok and report.events == THREADS * ROUNDS, report


def test_appends_to_both_chains_in_either_order_never_fail(runtime: Runtime) -> None:
    def both(n: int) -> None:
        with runtime.session() as db:
            # Half the transactions append the receipt first, half the audit event first:
            # the chains share one lock, so opposite orders cannot deadlock on PostgreSQL.
            if n % 2:
                _receipt(db)
                audit.record(db, None, "reply_sent", "reply", str(uuid.uuid4()))
            else:
                audit.record(db, None, "reply_sent", "reply", str(uuid.uuid4()))
                _receipt(db)
            db.commit()

    errors = _run_threads(both)
    assert errors == []
    with runtime.session() as db:
        receipts = db.scalar(select(func.count()).select_from(CustodyReceipt))
        verified = custody.verify_log(db, TrustedKeys([runtime.receipt_key.verify_key]))
        report = audit_chain.verify(db)
    assert receipts == verified == THREADS * ROUNDS
    assert report.ok and report.events == THREADS * ROUNDS, report


def test_a_rolled_back_append_leaves_no_gap(runtime: Runtime) -> None:
    """The lock ends with the transaction either way: a rollback frees it, and the next
    writer links to the last committed event."""
    with runtime.session() as db:
        audit.record(db, None, "login_failed")
        db.commit()
        audit.record(db, None, "login_failed")
        db.rollback()
    with runtime.session() as db:
        audit.record(db, None, "login_failed")
        db.commit()
        report = audit_chain.verify(db)
    assert report.ok and report.events == 2
