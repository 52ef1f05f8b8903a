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

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vault.consent_record import Answer
from vault.db import utcnow
from vault.errors import VaultError
from vault.models import (
    CaseSource,
    Referral,
    ReferralStatus,
    Reviewer,
    Source,
)
from vault.services import (
    audit,
    cases,
    consents,
    partners,
    referral_activity,
)
from vault.services.audit_log import RefusalRecordedError
from vault.services.case_workflow import ACTIVE_REFERRALS
from vault.transaction import savepoint

__all__ = [
    "ConsentRequiredError",
    "InvalidReferralError",
    "allowed_moves",
    "contact_allowed",
    "create_referral",
    "get_referral",
    "list_referrals",
    "set_status",
    "statuses_of_case",
]

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


def refuse_access(db: Session, actor: Reviewer, referral_uuid: str | None) -> RefusalRecordedError:
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
            raise refuse_access(db, actor, referral_uuid)
        return referral
    org_id = partners.org_of(db, actor)
    if (
        referral is None
        or org_id is None
        or referral.org_id != org_id
        or referral.status is R.DECLINED
    ):
        raise refuse_access(db, actor, referral_uuid)
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
            raise refuse_access(db, actor, None)
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
