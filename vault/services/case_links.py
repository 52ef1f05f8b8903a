"""What a case holds: linking and unlinking its sources and submissions, and finding the
sources an analyst may add. Every change is audited (`cases.audit_change`)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vault.errors import NotFoundError
from vault.models import Case, CaseSource, CaseSubmission, Reviewer, Source, Submission
from vault.services.case_triage import InvalidCaseInputError
from vault.services.cases import (
    audit_change,
    find_sources,
    find_submissions,
    get_case,
    require_worker,
)

__all__ = [
    "designations_to_add",
    "link_source",
    "link_submission",
    "source_by_designation",
    "unlink_source",
    "unlink_submission",
]


def link_source(db: Session, actor: Reviewer, case_uuid: str, source_uuid: str) -> Case:
    """Link a source (nothing recorded when it is linked already)."""
    case = get_case(db, actor, case_uuid)
    (source,) = find_sources(db, [source_uuid])
    if db.get(CaseSource, (case.id, source.id)) is not None:
        return case
    db.add(CaseSource(case_id=case.id, source_id=source.id))
    db.flush()
    db.expire(case, ["sources"])
    return audit_change(db, actor, case, "case_source_linked", {"source": source.uuid})


def unlink_source(db: Session, actor: Reviewer, case_uuid: str, source_uuid: str) -> Case:
    """Unlink a source and its submissions; the last source cannot go (a case with no
    one to reply to is an orphan: discard it instead)."""
    case = get_case(db, actor, case_uuid)
    (source,) = find_sources(db, [source_uuid])
    if db.get(CaseSource, (case.id, source.id)) is None:
        raise NotFoundError("source not linked")
    count = db.scalar(select(func.count()).where(CaseSource.case_id == case.id)) or 0
    if count <= 1:
        raise InvalidCaseInputError("a case keeps at least one source")
    db.execute(
        delete(CaseSource).where(CaseSource.case_id == case.id, CaseSource.source_id == source.id)
    )
    db.execute(
        delete(CaseSubmission).where(
            CaseSubmission.case_id == case.id,
            CaseSubmission.submission_id.in_(
                select(Submission.id).where(Submission.source_id == source.id)
            ),
        )
    )
    db.expire(case)
    return audit_change(db, actor, case, "case_source_unlinked")


def _live_sources() -> ColumnElement[bool]:
    return Source.pending.is_(False) & Source.deleted_at.is_(None)


def source_by_designation(db: Session, actor: Reviewer, designation: str) -> Source:
    """The live source with this designation, as typed (case and spaces aside);
    NotFoundError otherwise."""
    require_worker(db, actor)
    wanted = " ".join(designation.split()).lower()
    source = db.scalar(select(Source).where(Source.designation == wanted, _live_sources()))
    if source is None:
        raise NotFoundError("no such source")
    return source


def designations_to_add(db: Session, actor: Reviewer, case: Case, limit: int = 200) -> list[str]:
    """Designations of live sources not in `case`, most recently active first (at most
    `limit`): the suggestions of the case page's "Add a source" field."""
    require_worker(db, actor)
    linked = select(CaseSource.source_id).where(CaseSource.case_id == case.id)
    return list(
        db.scalars(
            select(Source.designation)
            .where(_live_sources(), Source.id.not_in(linked))
            .order_by(Source.last_updated.desc(), Source.id.desc())
            .limit(limit)
        )
    )


def link_submission(db: Session, actor: Reviewer, case_uuid: str, submission_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    (submission,) = find_submissions(db, [submission_uuid])
    if db.get(CaseSubmission, (case.id, submission.id)) is None:
        db.add(CaseSubmission(case_id=case.id, submission_id=submission.id))
    if db.get(CaseSource, (case.id, submission.source_id)) is None:
        db.add(CaseSource(case_id=case.id, source_id=submission.source_id))
    return audit_change(db, actor, case, "case_submission_linked")


def unlink_submission(db: Session, actor: Reviewer, case_uuid: str, submission_uuid: str) -> Case:
    case = get_case(db, actor, case_uuid)
    (submission,) = find_submissions(db, [submission_uuid])
    link = db.get(CaseSubmission, (case.id, submission.id))
    if link is None:
        raise NotFoundError("submission not linked")
    db.delete(link)
    db.flush()
    db.expire(case)
    return audit_change(db, actor, case, "case_submission_unlinked")
