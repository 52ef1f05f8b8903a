"""Keys leave every GnuPG home that holds them, each home's process removing its own.

A process may write only its own home (docs/threat-model.md). When a key must go from
others too (a deleted source's reply key: its secret half in the source interface's
home, a public copy in the reviewer interface's; a replaced account key's public copy
in the source interface's), `retire` records it once per home, and each process
`purge`s its rows: at start and then every little while (composition.runtime).

The armored public keys the homes import from one another come from here too
(`public_key_of`): the database keeps the public halves of reply keys and account keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vault.models import AccountKey, FederationPeer, PeerReaderKey, RetiredKey, Source
from vault.ports import ReplyKeys

# The homes that may hold a copy of a reply key or an account key.
HOLDERS = ("source", "journalist")


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
    """Remove from `keyring` (this process's home, `side`) each key retired for it, then
    its rows; the count (the caller commits)."""
    fingerprints = pending(db, side)
    for fingerprint in fingerprints:
        keyring.delete_key(fingerprint)
        db.execute(
            delete(RetiredKey).where(RetiredKey.fingerprint == fingerprint, RetiredKey.side == side)
        )
    return len(fingerprints)


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
