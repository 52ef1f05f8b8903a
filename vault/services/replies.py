"""Replies written by reviewers, sealed to the source's key and the submission key."""

from __future__ import annotations

from sqlalchemy.orm import Session

from keys.gpg import GpgKeyring
from vault.db import utcnow
from vault.errors import EmptySubmissionError
from vault.models import Reply, Reviewer, Source
from vault.services import custody
from vault.store import Store

MAX_REPLY_CHARS = 50_000
# The most a reply's plaintext can be (50,000 characters of up to 4 bytes in UTF-8):
# the limit a source's page decrypts to, whoever encrypted the reply.
MAX_REPLY_BYTES = 4 * MAX_REPLY_CHARS
# The largest reply ciphertext accepted or opened: ASCII armour adds a third, the
# recipients' key packets and headers little; twice the plaintext limit leaves room.
# A ciphertext above it cannot hold a plaintext within MAX_REPLY_BYTES.
MAX_ENCRYPTED_REPLY_BYTES = 2 * MAX_REPLY_BYTES


def send_reply(
    db: Session,
    store: Store,
    keyring: GpgKeyring,
    source: Source,
    reviewer: Reviewer | None,
    text: str,
    submission_fpr: str,
    *,
    referral_id: int | None = None,
) -> Reply:
    """Seal `text` to the source's key and the submission key; store it with its receipt.

    `referral_id`: a partner's reply over that referral (vault.services.referrals)."""
    text = text.strip()
    if not text:
        raise EmptySubmissionError("empty reply")
    if len(text) > MAX_REPLY_CHARS:
        raise EmptySubmissionError("reply too long")
    number = source.next_interaction()
    sealed = store.seal_bytes_to(
        source.uuid,
        f"{number}-{source.slug}-reply.gpg",
        text.encode("utf-8"),
        [source.reply_key_fingerprint, submission_fpr],
    )
    reply = Reply(
        source=source,
        reviewer=reviewer,
        referral_id=referral_id,
        filename=sealed.path.name,
        size=sealed.size,
        sha256=sealed.sha256,
    )
    source.last_updated = utcnow()
    db.add(reply)
    try:
        db.flush()  # gives the reply its uuid, which the receipt names
        custody.append_reply(db, reply, [source.reply_key_fingerprint, submission_fpr])
        db.commit()
    except BaseException:
        db.rollback()
        store.shred(sealed.path)
        raise
    return reply
