"""The messages of a referral between analysts and the partner, and the partner's replies
to the referred source.

Messages are sealed to the referral's readers (`_recipients`) and re-sealed to them,
like case notes (see vault.services.notes), when a reader who can open them logs in or
reads the referral: a partner added to the organisation later gains the messages, a
deactivated or removed account stops being a recipient. A partner re-seals only the
messages of referrals it may see now. Who may see a referral is `referrals.get_referral`.
"""

from __future__ import annotations

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.models import (
    AccountKey,
    PartnerMember,
    PartnerOrg,
    Referral,
    ReferralMessage,
    Reply,
    Reviewer,
    Role,
)
from vault.models.note import canonical_recipients
from vault.ports import Keyring
from vault.services import audit, cases, notes, partners, referral_activity, replies, resealing
from vault.services.referrals import (
    InvalidReferralError,
    R,
    contact_allowed,
    get_referral,
    refuse_access,
)
from vault.store import Store

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Message",
    "add_message",
    "read_messages",
    "reply_to_source",
    "reseal_pending_messages",
]


MAX_MESSAGE_CHARS = 20_000


Message = tuple[ReferralMessage, str | None]


def _recipients(db: Session, referral: Referral, submission_fingerprint: str) -> list[str]:
    """Analysts/admins, the referral org's partner members, and the submission key."""
    return _org_recipients(db, referral.org_id, submission_fingerprint)


def _org_recipients(db: Session, org_id: int, submission_fingerprint: str) -> list[str]:
    """The readers of any referral to organisation `org_id` (see `_recipients`)."""
    analysts = select(AccountKey.fingerprint).join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
    fingerprints = set(
        db.scalars(
            analysts.where(
                Reviewer.is_active.is_(True), Reviewer.role.in_([Role.ANALYST, Role.ADMIN])
            )
        )
    )
    fingerprints |= set(
        db.scalars(
            analysts.join(PartnerMember, PartnerMember.reviewer_id == Reviewer.id).where(
                Reviewer.is_active.is_(True), PartnerMember.org_id == org_id
            )
        )
    )
    return sorted(fingerprints | {submission_fingerprint})


def add_message(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    referral_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> ReferralMessage:
    referral = get_referral(db, actor, referral_uuid)
    text = text.strip()
    if not text or len(text) > MAX_MESSAGE_CHARS:
        raise InvalidReferralError("empty or too long")
    recipients = _recipients(db, referral, submission_fingerprint)
    sealed = keyring.seal_bytes(text.encode(), recipients)
    message = ReferralMessage(
        referral_id=referral.id,
        author_id=actor.id,
        ciphertext=sealed,
        size=len(sealed),
        recipients=canonical_recipients(recipients),
    )
    db.add(message)
    db.flush()
    audit.record(db, actor, "referral_message_added", "referral_message", message.uuid)
    return message


def read_messages(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    referral_uuid: str,
    session_key_passphrase: str | None,
    *,
    submission_fingerprint: str | None = None,
) -> list[Message]:
    """The referral's messages, opened with the session's key; audited as one view.

    With `submission_fingerprint`, messages opened whose recipients are not the
    referral's current readers are re-sealed to them in the same transaction."""
    referral = get_referral(db, actor, referral_uuid)
    found = list(
        db.scalars(
            select(ReferralMessage)
            .where(ReferralMessage.referral_id == referral.id)
            .order_by(ReferralMessage.id)
        )
    )
    opened = resealing.open_each(keyring, found, session_key_passphrase)
    if submission_fingerprint is not None:
        current = _recipients(db, referral, submission_fingerprint)
        resealing.reseal_opened(db, keyring, actor, opened, current)
    audit.record(db, actor, "referral_viewed", "referral", referral.uuid)
    referral_activity.mark_seen(db, actor, referral)
    return opened


def reseal_pending_messages(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    session_key_passphrase: str,
    submission_fingerprint: str,
    *,
    limit: int = notes.RESEAL_BATCH,
    org_uuid: str | None = None,
) -> int:
    """Re-seal up to `limit` messages (oldest first) that `actor` can open, of referrals
    it may see now and whose readers it is one of, whose recipients are not those
    readers; recorded with their audit events. Returns how many were re-sealed.

    With `org_uuid`, only the messages of that organisation's referrals."""
    mine = resealing.account_fingerprint(db, actor)
    if limit <= 0 or mine is None:
        return 0
    referred = select(Referral.org_id).distinct()
    if org_uuid is not None:
        referred = referred.join(PartnerOrg, PartnerOrg.id == Referral.org_id).where(
            PartnerOrg.uuid == org_uuid
        )
    if not cases.can_work_cases(actor):
        # A partner: only its organisation's referrals, never a declined one (as get_referral).
        org_id = partners.org_of(db, actor)
        if org_id is None:
            return 0
        referred = referred.where(Referral.org_id == org_id, Referral.status != R.DECLINED)
    current: dict[int, list[str]] = {}
    for org_id in db.scalars(referred):
        readers = _org_recipients(db, org_id, submission_fingerprint)
        if resealing.is_reader(mine, readers):
            current[org_id] = readers
    if not current:
        return 0
    wanted = sql_case(
        {org_id: canonical_recipients(readers) for org_id, readers in current.items()},
        value=Referral.org_id,
    )
    stale = (
        select(ReferralMessage, Referral.org_id)
        .join(Referral, Referral.id == ReferralMessage.referral_id)
        .where(
            Referral.org_id.in_(current),
            ReferralMessage.recipients.is_distinct_from(wanted),
            (ReferralMessage.recipients.is_(None))
            | resealing.sealed_to(ReferralMessage.recipients, mine),
        )
    )
    if not cases.can_work_cases(actor):
        stale = stale.where(Referral.status != R.DECLINED)
    return resealing.reseal_stale(
        db,
        keyring,
        actor,
        stale.order_by(ReferralMessage.id),
        lambda row: current[row[1]],  # the readers of the message's organisation
        mine,
        session_key_passphrase,
        limit,
    )


def reply_to_source(
    db: Session,
    store: Store,
    keyring: Keyring,
    actor: Reviewer,
    referral_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> Reply:
    """A partner's reply to the referred source, through BackUp's sealed reply channel
    (the source's key and the submission key, like any reply), only by a partner of the
    referral's organisation, if contact consent was attested and the referral is active.

    The reply is linked to the referral: the source sees it as the organisation's, and
    the referring analyst's dashboard counts it. Analysts answer through the inbox."""
    referral = get_referral(db, actor, referral_uuid)
    if (
        cases.can_work_cases(actor)
        or not contact_allowed(db, referral)
        or referral.status not in (R.ACCEPTED, R.IN_PROGRESS)
    ):
        raise refuse_access(db, actor, referral.uuid)
    source = referral.source
    if source.deleted_at is not None:
        raise InvalidReferralError("the source is gone")
    audit.record(db, actor, "reply_sent", "source", source.uuid)
    try:
        return replies.send_reply(
            db,
            store,
            keyring,
            source,
            actor,
            text,
            submission_fingerprint,
            referral_id=referral.id,
        )
    except BaseException:
        db.rollback()  # nothing was stored: drop the audit event with it
        raise
