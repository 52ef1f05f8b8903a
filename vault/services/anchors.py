"""Trusted time: RFC 3161 time-stamps of the custody and audit chains' heads.

A signed, hash-chained log shows that nothing in it was changed, not *when* it was
written: whoever holds the receipt key (or the database) could rebuild a chain with
other dates. A time-stamp from an outside authority (TSA) on a chain's head pins the
chain up to that point to a time the TSA vouches for; an eIDAS qualified TSA's carries a
legal presumption of accuracy in the EU. Every receipt before an anchor is proven to
have existed no later than the anchor's time.

`anchor_heads` asks each configured TSA for a token over the head of each chain (see
`vault.ports.anchor_message`) and keeps it with the position it covers. It runs from
`backupctl custody anchor` (a systemd timer, or an admin on demand), never on the path
of a submission: a TSA that is down or slow delays an anchor, never a source. A head
already anchored by a TSA is not asked for again.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.errors import ChainError, TimestampError
from vault.models import AuditEvent, ChainAnchor, CustodyReceipt
from vault.ports import TimestampAuthority, anchor_message

__all__ = [
    "AUDIT",
    "CUSTODY",
    "Outcome",
    "anchor_heads",
    "anchors_between",
    "count_anchors",
    "first_anchored_seq",
    "to_record",
    "verify_anchors",
]

CUSTODY = "custody"
AUDIT = "audit"
_CHAINS: dict[str, type[CustodyReceipt] | type[AuditEvent]] = {
    CUSTODY: CustodyReceipt,
    AUDIT: AuditEvent,
}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one TSA did for one chain's head: anchored now, anchored before, or failed."""

    chain: str
    tsa: str
    seq: int
    anchored: bool
    already: bool = False
    problem: str | None = None
    gen_time: str | None = None


def _head(db: Session, chain: str) -> tuple[int, str] | None:
    model = _CHAINS[chain]
    row = db.execute(select(model.seq, model.hash).order_by(model.seq.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), str(row[1]))


def anchor_heads(db: Session, tsas: Sequence[TimestampAuthority]) -> list[Outcome]:
    """Time-stamp each chain's head with each TSA; the caller commits. A failing TSA is
    reported in its Outcome (and logged), never raised: the others still anchor."""
    outcomes = []
    for chain in _CHAINS:
        head = _head(db, chain)
        if head is None:
            continue  # an empty chain has nothing to anchor yet
        seq, chain_hash = head
        for tsa in tsas:
            done = db.scalar(
                select(ChainAnchor).where(
                    ChainAnchor.chain == chain, ChainAnchor.seq == seq, ChainAnchor.tsa == tsa.name
                )
            )
            if done is not None:
                outcomes.append(Outcome(chain, tsa.name, seq, True, already=True))
                continue
            try:
                stamp = tsa.stamp(anchor_message(chain, seq, chain_hash))
            except TimestampError as exc:
                log.warning("time-stamp of the %s chain by %s failed: %s", chain, tsa.name, exc)
                outcomes.append(Outcome(chain, tsa.name, seq, False, problem=str(exc)))
                continue
            db.add(
                ChainAnchor(
                    chain=chain,
                    seq=seq,
                    hash=chain_hash,
                    tsa=tsa.name,
                    gen_time=stamp.gen_time,
                    token=stamp.token,
                )
            )
            outcomes.append(
                Outcome(chain, tsa.name, seq, True, gen_time=stamp.gen_time.isoformat())
            )
    db.flush()
    return outcomes


def first_anchored_seq(
    db: Session, chain: str, at_or_after: int, tsas: Collection[str]
) -> int | None:
    """The position of the first anchor by one of `tsas` covering link `at_or_after` of
    `chain`, if any."""
    found = db.scalar(
        select(func.min(ChainAnchor.seq)).where(
            ChainAnchor.chain == chain,
            ChainAnchor.seq >= at_or_after,
            ChainAnchor.tsa.in_(list(tsas)),
        )
    )
    return None if found is None else int(found)


def anchors_between(db: Session, chain: str, first: int, last: int) -> list[ChainAnchor]:
    return list(
        db.scalars(
            select(ChainAnchor)
            .where(ChainAnchor.chain == chain, ChainAnchor.seq >= first, ChainAnchor.seq <= last)
            .order_by(ChainAnchor.seq, ChainAnchor.tsa)
        )
    )


def count_anchors(db: Session, chain: str) -> int:
    return int(
        db.scalar(select(func.count()).select_from(ChainAnchor).where(ChainAnchor.chain == chain))
        or 0
    )


def to_record(row: ChainAnchor) -> dict[str, Any]:
    """An anchor as one line of an export's `anchors.jsonl` (the token in base64)."""
    return {
        "chain": row.chain,
        "seq": row.seq,
        "hash": row.hash,
        "tsa": row.tsa,
        "gen_time": row.gen_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "token": base64.b64encode(row.token).decode("ascii"),
    }


def verify_anchors(
    db: Session,
    chain: str,
    check_token: Callable[[str, bytes, bytes], object],
    tsas: Collection[str],
) -> list[ChainAnchor]:
    """Check every stored anchor of `chain` by one of `tsas` (those whose certificate
    is configured): the link it names still has the hash it covered, and
    `check_token(tsa, token, message)` accepts the token (it raises TimestampError
    otherwise). Raises ChainError naming the first that fails; returns those checked."""
    model = _CHAINS[chain]
    rows = list(
        db.scalars(
            select(ChainAnchor)
            .where(ChainAnchor.chain == chain, ChainAnchor.tsa.in_(list(tsas)))
            .order_by(ChainAnchor.seq, ChainAnchor.tsa)
        )
    )
    for row in rows:
        linked = db.scalar(select(model.hash).where(model.seq == row.seq))
        if linked != row.hash:
            raise ChainError(
                f"{chain} chain position {row.seq}: not the hash {row.tsa} time-stamped"
            )
        try:
            check_token(row.tsa, row.token, anchor_message(chain, row.seq, row.hash))
        except TimestampError as exc:
            raise ChainError(f"{chain} chain anchor at {row.seq} by {row.tsa}: {exc}") from None
    return rows
