"""One lock for appending to the hash chains (the audit log and the custody receipts).

An append reads the chain's head and writes the next link, so two writers must never
read the same head. `lock_chains` serialises them until the caller's transaction ends
(commit or rollback), whatever else that transaction already did:

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

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["lock_chains"]

# Any fixed 64-bit number: it names "the hash chains" among PostgreSQL advisory locks.
_PG_LOCK_KEY = 0x4241_434B_5550_4348


def lock_chains(db: Session) -> None:
    """Hold the chains' append lock until `db`'s transaction ends."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        db.execute(text("UPDATE audit_events SET seq = seq WHERE 1 = 0"))
