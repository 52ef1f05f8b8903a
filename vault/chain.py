"""The hash chains' one primitive: append the next link under the chains' one lock.

Two chains are kept in the database, the audit log (`vault.audit_chain`) and the custody
receipts (`vault.services.custody`). Each row has a unique `seq` and a `hash` that covers
the previous row's `hash`. Appending reads the chain's head and writes the next link, so
two writers must never read the same head: `append` takes the lock, reads the head and
hands it to the caller, who makes the row, in the caller's transaction.

The lock is held until that transaction ends (commit or rollback), whatever else it
already did:

- PostgreSQL: a transaction-scoped advisory lock. Both chains take the same one: with
  two, a transaction appending a receipt then an audit event and another appending in
  the opposite order could deadlock. Taking it twice in one transaction is harmless.
- SQLite: the database write lock, taken by a write statement that matches no row. The
  Python driver opens a transaction only before a write, so a transaction that has begun
  already holds the write lock, and one that has not holds no read snapshot: the head is
  read after the lock, never from before it. A second writer waits (busy timeout).

The unique `seq` of each chain stays the backstop: a fork fails to commit rather than
being stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vault.models import AuditEvent, CustodyReceipt
from vault.ports import GENESIS

__all__ = ["GENESIS", "Head", "append", "lock"]

# Any fixed 64-bit number: it names "the hash chains" among PostgreSQL advisory locks.
_PG_LOCK_KEY = 0x4241_434B_5550_4348

Link = TypeVar("Link", AuditEvent, CustodyReceipt)


@dataclass(frozen=True)
class Head:
    """Where the next link goes: its `seq`, and the hash it must cover as `prev`."""

    seq: int
    prev: str


def lock(db: Session) -> None:
    """Hold the chains' append lock until `db`'s transaction ends."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        db.execute(text("UPDATE audit_events SET seq = seq WHERE 1 = 0"))


def append(db: Session, chain: type[Link], make: Callable[[Head], Link], *, first_seq: int) -> Link:
    """Lock, read `chain`'s head, add the row `make` builds on it to `db` (the caller
    commits). `first_seq` is the seq of a chain's first link."""
    lock(db)
    last = db.execute(select(chain.seq, chain.hash).order_by(chain.seq.desc()).limit(1)).first()
    head = Head(first_seq, GENESIS) if last is None else Head(last[0] + 1, last[1])
    row = make(head)
    db.add(row)
    return row
