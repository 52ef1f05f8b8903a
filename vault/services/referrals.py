"""Referral of a case to a partner organisation, and everything a partner may do.

Consent: the source's consents are sealed inside their documents, which only the
air-gapped workstation opens; an analyst records what the latest one says on the case
(vault.services.consents). A referral needs that recorded state to say yes to referral
(`refer_partner`); otherwise it is refused and the refusal audited. Who referred, relying
on that state, is recorded on the referral (`consent_attested_by`). Consent to be
contacted by the partner (`contact_partner`) comes from the same recorded state and gates
the partner's replies at the moment they write (`contact_allowed`).

A partner reaches a referral only as a member of its organisation, and never a
declined one. Every refusal, for a uuid that exists or not, is the same
AccessDeniedError and is audited, so guessing learns nothing and leaves a trace.

Messages are sealed to the referral's readers (`_recipients`) and re-sealed to them,
like case notes (see vault.services.notes), when a reader who can open them logs in or
reads the referral: a partner added to the organisation later gains the messages, a
deactivated or removed account stops being a recipient. A partner re-seals only the
messages of referrals it may see now.
"""

from __future__ import annotations

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.consent_record import Answer
from vault.db import utcnow
from vault.errors import VaultError
from vault.models import (
    AccountKey,
    CaseSource,
    PartnerMember,
    PartnerOrg,
    Referral,
    ReferralMessage,
    ReferralStatus,
    Reply,
    Reviewer,
    Role,
    Source,
)
from vault.models.note import canonical_recipients
from vault.ports import Keyring
from vault.services import (
    audit,
    cases,
    consents,
    notes,
    partners,
    referral_activity,
    replies,
    resealing,
)
from vault.services.audit_log import RefusalRecordedError
from vault.services.case_workflow import ACTIVE_REFERRALS
from vault.store import Store
from vault.transaction import savepoint

__all__ = [
    "ConsentRequiredError",
    "InvalidReferralError",
    "Message",
    "add_message",
    "allowed_moves",
    "contact_allowed",
    "create_referral",
    "get_referral",
    "list_referrals",
    "read_messages",
    "reply_to_source",
    "reseal_pending_messages",
    "set_status",
    "statuses_of_case",
]

MAX_MESSAGE_CHARS = 20_000
R = ReferralStatus
# The partner moves a referral forward, or declines it. Accepting and the work after it
# are the partner's word alone: analysts and admins may only withdraw (decline).
_ANALYST_MOVES = frozenset({R.DECLINED})
_MOVES: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    R.PROPOSED: (R.ACCEPTED, R.DECLINED),
    R.ACCEPTED: (R.IN_PROGRESS, R.DECLINED),
    R.IN_PROGRESS: (R.COMPLETED, R.DECLINED),
    R.COMPLETED: (),
    R.DECLINED: (),
}
Message = tuple[ReferralMessage, str | None]


# No referral unless the source's recorded consent says yes to referral.
ConsentRequiredError = consents.ConsentRequiredError
REFERRAL_PURPOSE = "refer_partner"
# The source's consent to be contacted by the partner through BackUp.
CONTACT_PURPOSE = "contact_partner"


class InvalidReferralError(VaultError):
    """Not a valid referral change (status move, duplicate, source not in the case)."""


def allowed_moves(
    current: ReferralStatus, actor: Reviewer | None = None
) -> tuple[ReferralStatus, ...]:
    """The statuses `actor` may move a referral at `current` to (any role if None)."""
    moves = _MOVES[current]
    if actor is not None and cases.can_work_cases(actor):
        return tuple(m for m in moves if m in _ANALYST_MOVES)
    return moves


def _deny(db: Session, actor: Reviewer, referral_uuid: str | None) -> RefusalRecordedError:
    audit.record_refusal(db, actor, "referral_access_denied", "referral", referral_uuid)
    return RefusalRecordedError("no access to this referral")


def create_referral(
    db: Session,
    actor: Reviewer,
    case_uuid: str,
    org_uuid: str,
    source_uuid: str,
) -> Referral:
    """Refer the case for one of its sources, if that source's recorded consent allows
    referral (ConsentRequiredError, audited, otherwise). Whether the partner may write to
    the source comes from the same recorded consent (`contact_partner`), never from a
    form: `contact_consented` keeps what it said at referral time."""
    case = cases.get_case(db, actor, case_uuid)
    org = partners.get_org(db, org_uuid)
    source = db.scalar(
        select(Source)
        .join(CaseSource, CaseSource.source_id == Source.id)
        .where(CaseSource.case_id == case.id, Source.uuid == source_uuid)
    )
    if source is None or not org.is_active:
        raise InvalidReferralError("source not in this case, or organisation inactive")
    record = consents.require_consent(db, actor, source, REFERRAL_PURPOSE)
    contact_consented = record.answer(CONTACT_PURPOSE) is Answer.YES
    referral = Referral(
        case_id=case.id,
        org_id=org.id,
        source_id=source.id,
        consent_attested_by_id=actor.id,
        contact_consented=contact_consented,
    )
    try:
        with savepoint(db):
            db.add(referral)
            db.flush()
    except IntegrityError as exc:
        raise InvalidReferralError("already referred to this organisation") from exc
    audit.record(db, actor, "referral_consent_checked", "referral", referral.uuid)
    if contact_consented:
        audit.record(db, actor, "referral_contact_consent_checked", "referral", referral.uuid)
    audit.record(db, actor, "referral_created", "referral", referral.uuid)
    # The case follows: referring moves it to referred (case_workflow.follow_referral).
    cases.record_referral_effect(db, actor, case, R.PROPOSED, referral.uuid, True)
    referral_activity.mark_seen(db, actor, referral)
    return referral


def _others_active(db: Session, referral: Referral) -> bool:
    """Whether another referral of the same case is still proposed, accepted or in
    progress."""
    other = db.scalar(
        select(Referral.id)
        .where(
            Referral.case_id == referral.case_id,
            Referral.id != referral.id,
            Referral.status.in_(ACTIVE_REFERRALS),
        )
        .limit(1)
    )
    return other is not None


def statuses_of_case(db: Session, actor: Reviewer, case_uuid: str) -> list[ReferralStatus]:
    """The statuses of a case's referrals, for the case page's suggested move (not
    audited: the case view that shows them is)."""
    case = cases.get_case(db, actor, case_uuid)
    return list(db.scalars(select(Referral.status).where(Referral.case_id == case.id)))


def contact_allowed(db: Session, referral: Referral) -> bool:
    """Whether the partner may write to the referred source now: the source's latest
    recorded consent says yes to contact by a partner (a withdrawal recorded after the
    referral ends it)."""
    record = consents.latest_record(db, referral.source)
    return record is not None and record.answer(CONTACT_PURPOSE) is Answer.YES


def get_referral(db: Session, actor: Reviewer, referral_uuid: str) -> Referral:
    """The referral if `actor` may see it: analysts/admins always, partners of its org
    unless declined. Anything else is refused and audited."""
    referral = db.scalar(select(Referral).where(Referral.uuid == referral_uuid))
    if cases.can_work_cases(actor):
        if referral is None:
            raise _deny(db, actor, referral_uuid)
        return referral
    org_id = partners.org_of(db, actor)
    if (
        referral is None
        or org_id is None
        or referral.org_id != org_id
        or referral.status is R.DECLINED
    ):
        raise _deny(db, actor, referral_uuid)
    return referral


def list_referrals(db: Session, actor: Reviewer, case_uuid: str | None = None) -> list[Referral]:
    """A partner's referrals (their org's, not declined), or a case's for analysts."""
    query = select(Referral).order_by(Referral.created_at.desc(), Referral.id.desc())
    if cases.can_work_cases(actor):
        if case_uuid is not None:
            case = cases.get_case(db, actor, case_uuid)
            query = query.where(Referral.case_id == case.id)
    else:
        org_id = partners.org_of(db, actor)
        if org_id is None:
            raise _deny(db, actor, None)
        query = query.where(Referral.org_id == org_id, Referral.status != R.DECLINED)
    found = list(db.scalars(query))
    audit.record(db, actor, "referrals_listed")
    return found


def set_status(
    db: Session, actor: Reviewer, referral_uuid: str, target: ReferralStatus
) -> Referral:
    """Move the referral to `target`. Only the partner accepts, starts or completes;
    an analyst or admin asking for that is refused (RefusalRecordedError, audited as
    `referral_status_denied`), whatever the current status. The case's status follows
    in the same transaction (`case_workflow.follow_referral`)."""
    referral = get_referral(db, actor, referral_uuid)
    if cases.can_work_cases(actor) and target not in _ANALYST_MOVES:
        audit.record_refusal(db, actor, "referral_status_denied", "referral", referral.uuid)
        raise RefusalRecordedError("only the partner moves a referral forward")
    if target not in _MOVES[referral.status]:
        raise InvalidReferralError("status move not allowed")
    detail = {"field": "status", "from": referral.status.value, "to": target.value}
    referral.status = target
    referral.updated_at = utcnow()
    audit.record(db, actor, "referral_status_changed", "referral", referral.uuid, detail=detail)
    # The case follows as the workflow allows: a declined referral sends a referred
    # case back to verified unless another referral is still active.
    cases.record_referral_effect(
        db, actor, referral.case, target, referral.uuid, _others_active(db, referral)
    )
    referral_activity.mark_seen(db, actor, referral)
    return referral


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
    readers; committed with their audit events. Returns how many were re-sealed.

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
        raise _deny(db, actor, referral.uuid)
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
