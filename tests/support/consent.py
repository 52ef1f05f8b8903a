"""Record a source's consent in tests that need one but are not about consent: through
the same service and check code as the case page (the document is the source's first
message; what the workstation would read in it is taken as given)."""

from __future__ import annotations

from sqlalchemy import select

from composition.runtime import Runtime
from vault.consent_record import Answer, check_code, purposes
from vault.models import ConsentRecord, Reviewer, Source, Submission, SubmissionKind
from vault.services import consents


def record_consent(
    runtime: Runtime, reviewer_uuid: str, case_uuid: str, source_uuid: str, *yes: str
) -> ConsentRecord:
    """Record yes for the purposes `yes` (every other one: no)."""
    answers = {p: Answer.YES if p in yes else Answer.NO for p in purposes()}
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == reviewer_uuid)).one()
        message = db.scalars(
            select(Submission)
            .join(Source)
            .where(Source.uuid == source_uuid, Submission.kind == SubmissionKind.MESSAGE)
            .order_by(Submission.id.desc())
        ).first()
        assert message is not None, "the source needs a message to read consent from"
        return consents.record_consent(
            db,
            actor,
            case_uuid,
            message.uuid,
            answers,
            code=check_code(message.filename, answers),
        )
