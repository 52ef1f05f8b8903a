"""Keys leave every GnuPG home that holds them, each home's process removing its own.

A process may write only its own home (docs/threat-model.md). When a key must go from
others too (a deleted source's reply key: public copies in the source and reviewer
interfaces' homes, and its secret half in the source interface's home for a key made
before migration 0027; a replaced account key's public copy in the source interface's),
`retire` records it once per side, and each process `purge`s what its home still holds:
at start and then every little while (composition.runtime).

Several servers may share the database (docs/cluster.md), each with homes of its own:
so purging removes no row. Every server's process of a side applies every row of its
side, and `prune` (`backupctl sweep`) removes rows after `RETAIN`. A home whose process
did not purge for longer than that (a server out of service) may have missed rows:
`reconcile` then removes every reply key it holds that no source row names.

The armored public keys the homes import from one another come from here too
(`public_key_of`): the database keeps the public halves of reply keys and account keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.models import AccountKey, FederationPeer, PeerReaderKey, RetiredKey, Source
from vault.ports import ReplyKeys

# The homes that may hold a copy of a reply key or an account key.
HOLDERS = ("source", "journalist")
# How long a retirement is kept for every server's homes to apply it.
RETAIN = dt.timedelta(days=30)
# Reply key files younger than this are left to `reconcile`: a key being made (its row
# not committed yet) is not mistaken for a deleted source's. Seconds.
RECONCILE_MIN_AGE = 3600.0
_IN_BATCH = 500  # fingerprints per query (SQLite limits the parameters of one)


def retire(db: Session, fingerprint: str, sides: Iterable[str] = HOLDERS) -> None:
    """Record that `fingerprint` must leave each of `sides`' homes (the caller commits).
    A source transferred from a partner organisation has none (""): nothing to retire,
    and an empty name must never reach gpg, where it is no key at all."""
    if not fingerprint:
        return
    for side in sides:
        exists = db.scalar(
            select(RetiredKey.id).where(
                RetiredKey.fingerprint == fingerprint, RetiredKey.side == side
            )
        )
        if exists is None:
            db.add(RetiredKey(fingerprint=fingerprint, side=side))
    db.flush()


def pending(db: Session, side: str) -> list[str]:
    return list(
        db.scalars(
            select(RetiredKey.fingerprint).where(RetiredKey.side == side).order_by(RetiredKey.id)
        )
    )


def purge(db: Session, keyring: ReplyKeys, side: str) -> int:
    """Remove from `keyring` (this process's home, `side`) each key retired for it that
    it still holds; how many. The rows stay for the other servers' homes (`prune`)."""
    held = keyring.holding(pending(db, side))
    for fingerprint in sorted(held):
        keyring.delete_key(fingerprint)
    return len(held)


def prune(db: Session, now: dt.datetime | None = None, keep: dt.timedelta = RETAIN) -> int:
    """Remove the retirements older than `keep` (the caller commits); how many."""
    cutoff = (now or utcnow()) - keep
    result = db.execute(delete(RetiredKey).where(RetiredKey.created_at < cutoff))
    return int(cast(CursorResult[Any], result).rowcount)


def reconcile(
    db: Session, keyring: ReplyKeys, name: str, min_age: float = RECONCILE_MIN_AGE
) -> int:
    """Remove from `keyring` every reply key (user id `name`) no source row names, left
    unchanged for `min_age` seconds; how many."""
    held = keyring.named(name, older_than=min_age)
    live = set[str]()
    ordered = sorted(held)
    for start in range(0, len(ordered), _IN_BATCH):
        batch = ordered[start : start + _IN_BATCH]
        live |= set(
            db.scalars(
                select(Source.reply_key_fingerprint).where(Source.reply_key_fingerprint.in_(batch))
            )
        )
    gone = held - {fp.upper() for fp in live}
    for fingerprint in sorted(gone):
        keyring.delete_key(fingerprint)
    return len(gone)


def public_key_of(db: Session, fingerprint: str) -> str | None:
    """The armored public half of a reply key, an account key, an active peer's
    submission key (pinned at `peer add`; messages on a shared case are sealed to it)
    or a reader of case messages an active peer published."""
    found = db.scalar(
        select(Source.reply_public_key).where(Source.reply_key_fingerprint == fingerprint)
    )
    if found:
        return found
    found = db.scalar(select(AccountKey.public_key).where(AccountKey.fingerprint == fingerprint))
    if found:
        return found
    found = db.scalar(
        select(FederationPeer.release_key)
        .where(
            FederationPeer.release_fingerprint == fingerprint, FederationPeer.removed_at.is_(None)
        )
        .limit(1)
    )
    if found:
        return found
    # A reader a peer published (checked on receipt: one public key that encrypts).
    return db.scalar(
        select(PeerReaderKey.public_key)
        .join(FederationPeer, FederationPeer.id == PeerReaderKey.peer_id)
        .where(PeerReaderKey.fingerprint == fingerprint, FederationPeer.removed_at.is_(None))
        .limit(1)
    )
