"""Legal guidance: a partner investigator asks WWoW's legal advisers about a case
referred to their organisation, and an adviser answers.

Who. A question is asked only by an active partner member of a *legal* organisation
(one whose services include `legal`) on a referral made to that organisation and not
declined (vault.services.referrals.get_referral decides which referrals a partner
reaches, and audits every refusal). Legal advisers are active analysts or admins whom an
admin named (`Reviewer.legal_adviser`); they see every pending question and answer it.
Anyone else (another analyst, a partner of another organisation or service) is refused,
and the refusal is audited by the caller (GuidanceDeniedError is an AccessDeniedError).

Sealed like case notes. A question and its answers are sealed, as they arrive, to the
readers of that referral's guidance: the legal advisers and the referral organisation's
partner members who hold an account key, and always the submission key (so the
workstation can read the case file whole). The fingerprints are recorded with each item.
When the readers change (an adviser named, a member added or deactivated), a reader who
opens the thread re-seals what it can open to the current readers
(resealing.reseal_opened), and so does a reader's login, for a bounded batch
(`reseal_pending`); until then a new adviser sees "not encrypted to your key".

Audited, never with content: `referral_guidance_asked` / `_answered` (the item's
uuid), `_viewed` and `_listed`, `_resealed`. No function here commits (the request,
command or job that calls it does), except the login's re-sealing, which commits its
batch like every other kind of sealed item (resealing.reseal_stale).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import NotFoundError, VaultError
from vault.models import (
    AccountKey,
    GuidanceAnswer,
    GuidanceQuestion,
    PartnerMember,
    PartnerOrg,
    PartnerService,
    Referral,
    ReferralStatus,
    Reviewer,
    Role,
)
from vault.models.note import canonical_recipients
from vault.ports import Keyring
from vault.services import audit, partners, referrals, resealing
from vault.services.reviewers import AccessDeniedError, require_admin

__all__ = [
    "ADVISER_ROLES",
    "MAX_GUIDANCE_CHARS",
    "Exchange",
    "GuidanceDeniedError",
    "InvalidGuidanceError",
    "answer",
    "ask",
    "is_legal_adviser",
    "is_legal_partner",
    "may_read",
    "pending",
    "read_thread",
    "recipients",
    "reseal_pending",
    "set_legal_adviser",
]

MAX_GUIDANCE_CHARS = 20_000  # as a note: resealing opens at most 4 bytes a character
ADVISER_ROLES = (Role.ANALYST, Role.ADMIN)
# How many answered questions the advisers' page lists below the pending ones.
RECENT_ANSWERED = 20


class GuidanceDeniedError(AccessDeniedError):
    """Not a reader of this referral's guidance, or not allowed this step."""


class InvalidGuidanceError(VaultError):
    """Empty or too long, or a partner account named a legal adviser."""


@dataclass(frozen=True)
class Exchange:
    """A question with its text (None: not sealed to this account) and its answers."""

    question: GuidanceQuestion
    text: str | None
    answers: list[tuple[GuidanceAnswer, str | None]]


def is_legal_adviser(reviewer: Reviewer) -> bool:
    return reviewer.is_active and reviewer.role in ADVISER_ROLES and reviewer.legal_adviser


def _legal_org(db: Session, org_id: int | None) -> bool:
    org = db.get(PartnerOrg, org_id) if org_id is not None else None
    return org is not None and org.is_active and PartnerService.LEGAL in org.service_list


def is_legal_partner(db: Session, reviewer: Reviewer) -> bool:
    """An active partner member of an active organisation that offers legal services."""
    return _legal_org(db, partners.org_of(db, reviewer))


def set_legal_adviser(
    db: Session, actor: Reviewer | None, reviewer: Reviewer, adviser: bool
) -> None:
    """An admin names an analyst or admin a legal adviser, or withdraws it; audited."""
    require_admin(actor)
    if adviser and reviewer.role not in ADVISER_ROLES:
        raise InvalidGuidanceError("partners are never WWoW legal advisers")
    if reviewer.legal_adviser == adviser:
        return
    reviewer.legal_adviser = adviser
    action = "reviewer_legal_adviser_named" if adviser else "reviewer_legal_adviser_withdrawn"
    audit.record(db, actor, action, "reviewer", reviewer.uuid)


def _partner_referral(db: Session, actor: Reviewer, referral_uuid: str) -> Referral:
    """The referral, if `actor` is a legal partner of its organisation (it is not
    declined: get_referral refuses that, audited)."""
    referral = referrals.get_referral(db, actor, referral_uuid)
    if actor.role is not Role.PARTNER or not _legal_org(db, referral.org_id):
        raise GuidanceDeniedError("not a legal partner of this referral")
    return referral


def may_read(db: Session, actor: Reviewer, referral: Referral) -> bool:
    """Whether `actor` reads this referral's guidance (the referral page's link)."""
    if is_legal_adviser(actor):
        return True
    org_id = partners.org_of(db, actor)
    return org_id == referral.org_id and _legal_org(db, org_id)


def _readable_referral(db: Session, actor: Reviewer, referral_uuid: str) -> Referral:
    if is_legal_adviser(actor):
        referral = db.scalar(select(Referral).where(Referral.uuid == referral_uuid))
        if referral is None:
            raise NotFoundError("no such referral")
        return referral
    if actor.role is not Role.PARTNER:
        raise GuidanceDeniedError("legal advisers and legal partners only")
    return _partner_referral(db, actor, referral_uuid)


def recipients(db: Session, referral: Referral, submission_fingerprint: str) -> list[str]:
    """The legal advisers, the referral organisation's members, the submission key."""
    return _org_readers(db, referral.org_id, submission_fingerprint)


def _org_readers(db: Session, org_id: int, submission_fingerprint: str) -> list[str]:
    holders = select(AccountKey.fingerprint).join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
    advisers = holders.where(
        Reviewer.is_active.is_(True),
        Reviewer.role.in_(ADVISER_ROLES),
        Reviewer.legal_adviser.is_(True),
    )
    members = holders.join(PartnerMember, PartnerMember.reviewer_id == Reviewer.id).where(
        Reviewer.is_active.is_(True), PartnerMember.org_id == org_id
    )
    found = set(db.scalars(advisers)) | set(db.scalars(members))
    return sorted(found | {submission_fingerprint})


def _clean(text: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_GUIDANCE_CHARS:
        raise InvalidGuidanceError("empty or too long")
    return text


def ask(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    referral_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> GuidanceQuestion:
    """A legal partner's question on a referral to its organisation, sealed; audited."""
    referral = _partner_referral(db, actor, referral_uuid)
    text = _clean(text)
    readers = recipients(db, referral, submission_fingerprint)
    sealed = keyring.seal_bytes(text.encode(), readers)
    question = GuidanceQuestion(
        referral_id=referral.id,
        author_id=actor.id,
        ciphertext=sealed,
        size=len(sealed),
        recipients=canonical_recipients(readers),
    )
    db.add(question)
    db.flush()
    audit.record(db, actor, "referral_guidance_asked", "guidance_question", question.uuid)
    return question


def answer(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    question_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> GuidanceAnswer:
    """A legal adviser's answer, sealed to the question's readers; audited."""
    if not is_legal_adviser(actor):
        raise GuidanceDeniedError("legal advisers only")
    question = db.scalar(select(GuidanceQuestion).where(GuidanceQuestion.uuid == question_uuid))
    if question is None:
        raise NotFoundError("no such question")
    text = _clean(text)
    readers = recipients(db, question.referral, submission_fingerprint)
    sealed = keyring.seal_bytes(text.encode(), readers)
    reply = GuidanceAnswer(
        question_id=question.id,
        author_id=actor.id,
        ciphertext=sealed,
        size=len(sealed),
        recipients=canonical_recipients(readers),
    )
    db.add(reply)
    if question.answered_at is None:
        question.answered_at = utcnow()
    db.flush()
    audit.record(db, actor, "referral_guidance_answered", "guidance_answer", reply.uuid)
    return reply


def read_thread(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    referral_uuid: str,
    session_key_passphrase: str | None,
    submission_fingerprint: str,
) -> tuple[Referral, list[Exchange]]:
    """The referral's questions and answers, opened with the session's key, those not
    sealed to the current readers re-sealed to them; audited as one view."""
    referral = _readable_referral(db, actor, referral_uuid)
    questions = list(
        db.scalars(
            select(GuidanceQuestion)
            .where(GuidanceQuestion.referral_id == referral.id)
            .order_by(GuidanceQuestion.id)
        )
    )
    answers = list(
        db.scalars(
            select(GuidanceAnswer)
            .where(GuidanceAnswer.question_id.in_([q.id for q in questions]))
            .order_by(GuidanceAnswer.id)
        )
    )
    opened_q = resealing.open_each(keyring, questions, session_key_passphrase)
    opened_a = resealing.open_each(keyring, answers, session_key_passphrase)
    current = recipients(db, referral, submission_fingerprint)
    resealing.reseal_opened(db, keyring, actor, [*opened_q, *opened_a], current)
    by_question: dict[int, list[tuple[GuidanceAnswer, str | None]]] = {}
    for item, text in opened_a:
        by_question.setdefault(item.question_id, []).append((item, text))
    audit.record(db, actor, "referral_guidance_viewed", "referral", referral.uuid)
    return referral, [Exchange(q, text, by_question.get(q.id, [])) for q, text in opened_q]


def pending(db: Session, actor: Reviewer) -> tuple[list[GuidanceQuestion], list[GuidanceQuestion]]:
    """For a legal adviser: the questions without an answer (oldest first), and the
    latest answered ones. Who asked, on which referral, when: no content. Audited."""
    if not is_legal_adviser(actor):
        raise GuidanceDeniedError("legal advisers only")
    waiting = list(
        db.scalars(
            select(GuidanceQuestion)
            .where(GuidanceQuestion.answered_at.is_(None))
            .order_by(GuidanceQuestion.created_at, GuidanceQuestion.id)
        )
    )
    answered = list(
        db.scalars(
            select(GuidanceQuestion)
            .where(GuidanceQuestion.answered_at.is_not(None))
            .order_by(GuidanceQuestion.answered_at.desc(), GuidanceQuestion.id.desc())
            .limit(RECENT_ANSWERED)
        )
    )
    audit.record(db, actor, "referral_guidance_listed")
    return waiting, answered


def reseal_pending(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    session_key_passphrase: str,
    submission_fingerprint: str,
    *,
    limit: int,
) -> int:
    """At login: re-seal up to `limit` questions and answers (oldest first) that `actor`
    can open, of the referrals whose guidance it reads now and whose readers it is one
    of, whose recipients are not those readers; committed with their audit events
    (resealing.reseal_stale). Returns how many were re-sealed."""
    mine = resealing.account_fingerprint(db, actor)
    if limit <= 0 or mine is None:
        return 0
    orgs = (
        select(Referral.org_id)
        .join(GuidanceQuestion, GuidanceQuestion.referral_id == Referral.id)
        .distinct()
    )
    if not is_legal_adviser(actor):
        org_id = partners.org_of(db, actor)
        if org_id is None or not _legal_org(db, org_id):
            return 0
        orgs = orgs.where(Referral.org_id == org_id, Referral.status != ReferralStatus.DECLINED)
    current = {org: _org_readers(db, org, submission_fingerprint) for org in db.scalars(orgs)}
    current = {
        org: readers for org, readers in current.items() if resealing.is_reader(mine, readers)
    }
    if not current:
        return 0
    wanted = sql_case(
        {org: canonical_recipients(readers) for org, readers in current.items()},
        value=Referral.org_id,
    )
    questions = select(GuidanceQuestion, Referral.org_id).join(
        Referral, Referral.id == GuidanceQuestion.referral_id
    )
    answers = (
        select(GuidanceAnswer, Referral.org_id)
        .join(GuidanceQuestion, GuidanceQuestion.id == GuidanceAnswer.question_id)
        .join(Referral, Referral.id == GuidanceQuestion.referral_id)
    )
    done = 0
    for model, query in ((GuidanceQuestion, questions), (GuidanceAnswer, answers)):
        stale = query.where(
            Referral.org_id.in_(current),
            model.recipients.is_distinct_from(wanted),
            model.recipients.is_(None) | resealing.sealed_to(model.recipients, mine),
        )
        done += resealing.reseal_stale(
            db,
            keyring,
            actor,
            stale.order_by(model.id),
            lambda row: current[row[1]],  # the readers of the item's organisation
            mine,
            session_key_passphrase,
            limit - done,
        )
    return done
