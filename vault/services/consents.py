"""Consent as a state: record a source's consent read from a sealed document, know which
sources sent a consent document not recorded yet, and enforce consent where it matters.

A source's state is its newest record (by the document's time, then by recording): per
purpose yes, no or unknown (unknown is enforced as no). Recording from the workstation
needs the check code the workstation showed (`vault.consent_record.check_code`), so what the
analyst enters is what the document says. Recording an older document than the one the
state comes from is refused: the state never goes back in time.

Every recording and every refusal is audited by uuid only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Select, Subquery, func, select
from sqlalchemy.orm import Session

from vault.consent_record import Answer, check_code, normalise_code, purposes
from vault.errors import NotFoundError, VaultError
from vault.models import (
    CareRequest,
    CaseSource,
    ConsentAnswer,
    ConsentDocument,
    ConsentOrigin,
    ConsentRecord,
    Reviewer,
    Source,
    Submission,
    SubmissionKind,
)
from vault.services import audit, cases

__all__ = [
    "CheckCodeMismatchError",
    "ConsentError",
    "ConsentRequiredError",
    "ConsentState",
    "StaleConsentError",
    "case_documents",
    "case_states",
    "cases_awaiting_record",
    "latest_record",
    "note_document",
    "record_care_consent",
    "record_consent",
    "require_consent",
    "source_uuids_awaiting_record",
    "sources_awaiting_record",
    "state_of",
]


class ConsentError(VaultError):
    """A consent recording that cannot be accepted; nothing was recorded."""


class CheckCodeMismatchError(ConsentError):
    """The check code does not match the document and answers entered (a typo, or not
    what the workstation showed)."""


class StaleConsentError(ConsentError):
    """A newer consent document is already recorded for this source."""


class ConsentRequiredError(VaultError):
    """The source's recorded consent does not allow this use (refused and audited)."""

    def __init__(self, purpose: str) -> None:
        super().__init__(f"no recorded consent for {purpose}")
        self.purpose = purpose


@dataclass(frozen=True)
class ConsentState:
    source: Source
    record: ConsentRecord | None
    # The newest consent document that arrived after `record`'s (None: nothing new).
    awaiting: ConsentDocument | None
    history: list[ConsentRecord] = field(default_factory=list)

    def answer(self, purpose: str) -> Answer:
        return Answer.UNKNOWN if self.record is None else self.record.answer(purpose)


def note_document(db: Session, submission: Submission) -> ConsentDocument:
    """Mark `submission` as a consent-bearing document (the source app calls this)."""
    found = db.get(ConsentDocument, submission.id)
    if found is None:
        found = ConsentDocument(
            submission_id=submission.id,
            source_id=submission.source_id,
            received_at=submission.created_at,
        )
        db.add(found)
        db.flush()
    return found


def _newest_first(source_id: int) -> Select[ConsentRecord]:
    return (
        select(ConsentRecord)
        .where(ConsentRecord.source_id == source_id)
        .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
    )


def latest_record(db: Session, source: Source) -> ConsentRecord | None:
    return db.scalars(_newest_first(source.id).limit(1)).first()


def state_of(db: Session, source: Source, *, with_history: bool = False) -> ConsentState:
    history = list(db.scalars(_newest_first(source.id)))
    record = history[0] if history else None
    newer = select(ConsentDocument).where(ConsentDocument.source_id == source.id)
    if record is not None:
        newer = newer.where(ConsentDocument.received_at > record.given_at)
    awaiting = db.scalars(newer.order_by(ConsentDocument.received_at.desc()).limit(1)).first()
    return ConsentState(source, record, awaiting, history if with_history else [])


def case_states(db: Session, actor: Reviewer, case_uuid: str) -> list[ConsentState]:
    """The consent state of each source of a case, with its history (case workers only)."""
    case = cases.get_case(db, actor, case_uuid)
    return [state_of(db, source, with_history=True) for source in case.sources]


def _latest_given() -> Subquery:
    return (
        select(ConsentRecord.source_id, func.max(ConsentRecord.given_at).label("given_at"))
        .group_by(ConsentRecord.source_id)
        .subquery()
    )


def sources_awaiting_record(db: Session, source_ids: Iterable[int]) -> set[int]:
    """Of `source_ids`, those with a consent document newer than their recorded state."""
    ids = list(source_ids)
    if not ids:
        return set()
    latest = _latest_given()
    query = (
        select(ConsentDocument.source_id)
        .outerjoin(latest, latest.c.source_id == ConsentDocument.source_id)
        .where(
            ConsentDocument.source_id.in_(ids),
            latest.c.given_at.is_(None) | (ConsentDocument.received_at > latest.c.given_at),
        )
        .distinct()
    )
    return set(db.scalars(query))


def source_uuids_awaiting_record(db: Session, source_uuids: Iterable[str]) -> set[str]:
    """As `sources_awaiting_record`, by uuid (for the inbox's page of sources)."""
    ids = dict(
        db.execute(select(Source.id, Source.uuid).where(Source.uuid.in_(list(source_uuids)))).all()
    )
    return {ids[source_id] for source_id in sources_awaiting_record(db, ids)}


def case_documents(db: Session, actor: Reviewer, case_uuid: str) -> list[tuple[Submission, bool]]:
    """The messages of a case's sources that may hold consent, newest first, each with
    whether it is known to be a consent document (case workers only)."""
    case = cases.get_case(db, actor, case_uuid)
    rows = db.execute(
        select(Submission, ConsentDocument.submission_id.is_not(None))
        .join(CaseSource, CaseSource.source_id == Submission.source_id)
        .outerjoin(ConsentDocument, ConsentDocument.submission_id == Submission.id)
        .where(
            CaseSource.case_id == case.id,
            Submission.kind == SubmissionKind.MESSAGE,
            Submission.deleted_at.is_(None),
        )
        .order_by(Submission.created_at.desc(), Submission.id.desc())
    ).all()
    return [(submission, bool(known)) for submission, known in rows]


def cases_awaiting_record(db: Session, case_ids: Iterable[int]) -> set[int]:
    """Of `case_ids`, those with a source awaiting a consent record."""
    ids = list(case_ids)
    if not ids:
        return set()
    links = db.execute(
        select(CaseSource.case_id, CaseSource.source_id).where(CaseSource.case_id.in_(ids))
    ).all()
    awaiting = sources_awaiting_record(db, {source_id for _, source_id in links})
    return {case_id for case_id, source_id in links if source_id in awaiting}


def _refuse(db: Session, actor: Reviewer, error: ConsentError, source_uuid: str) -> ConsentError:
    audit.record_refusal(db, actor, "consent_record_refused", "source", source_uuid)
    return error


def record_consent(
    db: Session,
    actor: Reviewer,
    case_uuid: str,
    submission_uuid: str,
    answers: Mapping[str, Answer],
    *,
    code: str,
) -> ConsentRecord:
    """Record the consent read on the workstation from the message `submission_uuid` of a
    source of the case: `answers` names every purpose, `code` is the check code the
    workstation showed for that document and those answers.

    Raises NotFoundError (no such case or document in it), ConsentError (answers
    incomplete), CheckCodeMismatchError and StaleConsentError (both audited).
    """
    case = cases.get_case(db, actor, case_uuid)
    submission = db.scalar(
        select(Submission)
        .join(CaseSource, CaseSource.source_id == Submission.source_id)
        .where(
            CaseSource.case_id == case.id,
            Submission.uuid == submission_uuid,
            Submission.kind == SubmissionKind.MESSAGE,
            Submission.deleted_at.is_(None),
        )
    )
    if submission is None:
        raise NotFoundError("no such consent document in this case")
    source = submission.source
    if set(answers) != set(purposes()):
        raise ConsentError("every purpose needs an answer")
    if normalise_code(code) != check_code(submission.filename, answers):
        raise _refuse(db, actor, CheckCodeMismatchError("check code mismatch"), source.uuid)
    current = latest_record(db, source)
    if current is not None and current.given_at > submission.created_at:
        raise _refuse(db, actor, StaleConsentError("a newer consent is recorded"), source.uuid)
    return _add_record(
        db,
        actor,
        ConsentRecord(
            source_id=source.id,
            case_id=case.id,
            submission_uuid=submission.uuid,
            document_name=submission.filename,
            given_at=submission.created_at,
            origin=ConsentOrigin.WORKSTATION,
        ),
        answers,
    )


def record_care_consent(
    db: Session,
    actor: Reviewer,
    case_uuid: str,
    request: CareRequest,
    stated: Mapping[str, object],
) -> ConsentRecord | None:
    """Record the consent a care request states, read in memory by the on-duty team.

    A purpose the request does not state keeps its recorded answer. If a newer consent
    is recorded already (a later change of consent), that one stands and nothing is
    recorded (None).
    """
    case = cases.get_case(db, actor, case_uuid)
    source = request.source
    current = latest_record(db, source)
    if current is not None and current.given_at > request.created_at:
        return None
    before = {p: current.answer(p) for p in purposes()} if current is not None else {}
    answers = {p: before.get(p, Answer.UNKNOWN) for p in purposes()}
    answers |= {
        p: Answer.of(value)
        for p, value in stated.items()
        if p in answers and (value is None or isinstance(value, bool))
    }
    return _add_record(
        db,
        actor,
        ConsentRecord(
            source_id=source.id,
            case_id=case.id,
            # The care copy, not a submission: the request's own uuid names it.
            submission_uuid=request.uuid,
            document_name=f"care request {request.uuid[:8]}",
            given_at=request.created_at,
            origin=ConsentOrigin.CARE_REQUEST,
        ),
        answers,
    )


def _add_record(
    db: Session, actor: Reviewer, record: ConsentRecord, answers: Mapping[str, Answer]
) -> ConsentRecord:
    record.recorded_by_id = actor.id
    record.answers = [ConsentAnswer(purpose=p, answer=answers[p]) for p in purposes()]
    db.add(record)
    db.flush()
    audit.record(db, actor, "consent_recorded", "consent_record", record.uuid)
    return record


def require_consent(
    db: Session, actor: Reviewer | None, source: Source, purpose: str
) -> ConsentRecord:
    """The record whose answer for `purpose` is yes; else ConsentRequiredError, audited
    (`consent_refused`, the source's uuid) and kept even though the transaction fails."""
    record = latest_record(db, source)
    if record is None or record.answer(purpose) is not Answer.YES:
        audit.record_refusal(db, actor, f"consent_refused_{purpose}", "source", source.uuid)
        raise ConsentRequiredError(purpose)
    return record
