"""The audit log as a hash chain: tamper-evident, verifiable from the database alone.

Each event's `hash` is SHA-256 over a canonical JSON of its own fields and the previous
event's hash. `actor_id` is deliberately left out: it is a lookup column that becomes
NULL when an account is deleted (ON DELETE SET NULL), which is not tampering; the
stable `actor_uuid` is covered instead.

This is tamper-*evident*, not tamper-proof: someone with write access to the database
could rewrite the whole chain. Exporting the head hash regularly (`backupctl audit
verify` prints it) to somewhere else is what pins history; see docs/cases.md. With
time-stamping authorities configured, `backupctl custody anchor` does that too: an RFC
3161 token over the head (vault.services.anchors), checked by `audit verify`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import chain
from vault.models import AuditEvent
from vault.ports import GENESIS

__all__ = ["GENESIS", "ChainReport", "event_hash", "link", "verify"]


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


def link(db: Session, event: AuditEvent) -> AuditEvent:
    """Give `event` its place at the head of the chain (seq, prev_hash, hash) and add it
    to `db`, under the chains' lock (`vault.chain`), held until the caller's transaction
    ends: a second writer waits for the first to commit and then links to its event."""

    def place(head: chain.Head) -> AuditEvent:
        event.seq = head.seq
        event.prev_hash = head.prev
        event.hash = event_hash(event)
        return event

    return chain.append(db, AuditEvent, place, first_seq=1)


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
