"""The audit log as a hash chain: tamper-evident, verifiable from the database alone.

Each event's `hash` is SHA-256 over a canonical JSON of its own fields and the previous
event's hash. `actor_id` is deliberately left out: it is a lookup column that becomes
NULL when an account is deleted (ON DELETE SET NULL), which is not tampering; the
stable `actor_uuid` is covered instead.

This is tamper-*evident*, not tamper-proof: someone with write access to the database
could rewrite the whole chain. Exporting the head hash regularly (`backupctl audit
verify` prints it) to somewhere else is what pins history; see docs/cases.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.chain_lock import lock_chains
from vault.models import AuditEvent

__all__ = ["GENESIS", "ChainReport", "event_hash", "link", "verify"]

GENESIS = "0" * 64


def event_hash(event: AuditEvent) -> str:
    body = {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor_uuid,
        "action": event.action,
        "object_type": event.object_type,
        "object_uuid": event.object_uuid,
        "prev": event.prev_hash,
    }
    # Covered only when present, so events written before `detail` existed keep the
    # hash they were chained with.
    if event.detail is not None:
        body["detail"] = event.detail
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def link(db: Session, event: AuditEvent) -> None:
    """Give `event` its place in the chain (seq, prev_hash, hash) before it is added.

    The chains' lock (`vault.chain_lock`) is taken before the head is read and held
    until the caller's transaction ends, so a second writer waits for the first to
    commit and then links to its event.
    """
    lock_chains(db)
    last = db.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    event.seq = (last[0] + 1) if last else 1
    event.prev_hash = last[1] if last else GENESIS
    event.hash = event_hash(event)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(db: Session, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order; report the first broken link, if any."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        rows = list(
            db.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > last_seq)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        )
        if not rows:
            return ChainReport(True, count, prev)
        for event in rows:
            if event.seq != expected_seq:
                return ChainReport(False, count, prev, expected_seq, "missing event")
            if event.prev_hash != prev:
                return ChainReport(False, count, prev, event.seq, "broken link")
            if event_hash(event) != event.hash:
                return ChainReport(False, count, prev, event.seq, "altered event")
            prev = event.hash
            expected_seq += 1
            count += 1
            last_seq = event.seq
        db.expunge_all()
