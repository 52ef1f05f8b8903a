"""Case work through `vault.services.cases`: references, links, workflow, assignment,
labels, due dates, and partners refused (and audited) everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.support.journalist import FAST_HASHER, SubmittedSource, make_source
from vault.errors import NotFoundError
from vault.models import AuditEvent, CasePriority, CaseStatus, Reviewer, Role
from vault.services import case_edits, case_links, case_list, cases, reviewers
from vault.services.case_list import CaseListFilter
from vault.services.case_workflow import InvalidTransitionError
from vault.services.reviewers import AccessDeniedError
from vault.transaction import finish


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    with runtime.session() as session:
        yield session


def _reviewer(db: Session, name: str, role: Role = Role.ANALYST) -> Reviewer:
    reviewer, _ = reviewers.create_reviewer(db, name, role, hasher=FAST_HASHER)
    db.commit()  # as the admin's request does: the account exists before the test's work
    return reviewer


@pytest.fixture
def analyst(db: Session) -> Reviewer:
    return _reviewer(db, "analyst1")


@pytest.fixture
def partner(db: Session) -> Reviewer:
    return _reviewer(db, "partner1", Role.PARTNER)


@pytest.fixture
def source(runtime: Runtime) -> SubmittedSource:
    return make_source(runtime)


class TestCreate:
    def test_references_count_up_per_year(
        self, db: Session, analyst: Reviewer, source: SubmittedSource
    ) -> None:
        """Cases get BU-YYYY-NNNN references in order, and start as new."""
        first = cases.create_case(db, analyst, [source.uuid])
        second = cases.create_case(
            db, analyst, [source.uuid], priority=CasePriority.HIGH, second_case_confirmed=True
        )
        year = dt.datetime.now(dt.UTC).year
        assert first.reference == f"BU-{year}-0001"
        assert second.reference == f"BU-{year}-0002"
        assert first.status is CaseStatus.NEW
        assert second.priority is CasePriority.HIGH

    def test_from_a_submission_links_its_source(
        self, db: Session, analyst: Reviewer, source: SubmittedSource
    ) -> None:
        """A case made from one submission also knows the source, to reply to."""
        case = cases.create_case(db, analyst, submission_uuids=[source.message_uuid])
        db.refresh(case)
        assert [s.uuid for s in case.sources] == [source.uuid]
        assert [s.uuid for s in case.submissions] == [source.message_uuid]

    def test_defaults_and_the_second_case(
        self, db: Session, analyst: Reviewer, source: SubmittedSource
    ) -> None:
        """An urgent case starts high and assigned to its creator; a second case for a
        source in an open case is refused unless confirmed; a closed one does not count."""
        first = cases.create_case(db, analyst, [source.uuid], urgent_medical=True)
        db.refresh(first)
        assert first.priority is CasePriority.HIGH
        assert [r.uuid for r in first.assignees] == [analyst.uuid]
        with pytest.raises(cases.SecondCaseError) as refused:
            cases.create_case(db, analyst, submission_uuids=[source.document_uuid])
        assert [c.uuid for c in refused.value.open_cases] == [first.uuid]
        assert len(cases.cases_for_source(db, analyst, source.uuid)) == 1
        cases.set_status(db, analyst, first.uuid, CaseStatus.DISCARDED, "duplicate")
        again = cases.create_case(db, analyst, [source.uuid], labels=["kivu"], assignee_uuids=[])
        db.refresh(again)
        assert again.priority is CasePriority.NORMAL and again.assignees == []
        assert [lb.label for lb in again.labels] == ["kivu"]

    def test_needs_something_and_only_known_things(self, db: Session, analyst: Reviewer) -> None:
        """An empty case or an unknown uuid is refused."""
        with pytest.raises(cases.InvalidCaseInputError):
            cases.create_case(db, analyst)
        with pytest.raises(NotFoundError):
            cases.create_case(db, analyst, ["00000000-0000-0000-0000-000000000000"])


class TestLinks:
    def test_link_and_unlink_sources(
        self, runtime: Runtime, db: Session, analyst: Reviewer, source: SubmittedSource
    ) -> None:
        """Several sources can share a case; the last one cannot be unlinked."""
        other = make_source(runtime)
        case = cases.create_case(db, analyst, [source.uuid])
        case_links.link_source(db, analyst, case.uuid, other.uuid)
        db.refresh(case)
        assert {s.uuid for s in case.sources} == {source.uuid, other.uuid}
        assert [c.uuid for c in cases.cases_for_source(db, analyst, other.uuid)] == [case.uuid]
        case_links.unlink_source(db, analyst, case.uuid, source.uuid)
        db.refresh(case)
        assert [s.uuid for s in case.sources] == [other.uuid]
        with pytest.raises(cases.InvalidCaseInputError):
            case_links.unlink_source(db, analyst, case.uuid, other.uuid)

    def test_one_source_in_several_cases(
        self, db: Session, analyst: Reviewer, source: SubmittedSource
    ) -> None:
        """One source can report several incidents: a submission per case."""
        a = cases.create_case(db, analyst, submission_uuids=[source.message_uuid])
        b = cases.create_case(
            db, analyst, submission_uuids=[source.document_uuid], second_case_confirmed=True
        )
        case_links.link_submission(db, analyst, a.uuid, source.document_uuid)
        case_links.unlink_submission(db, analyst, a.uuid, source.message_uuid)
        db.refresh(a)
        assert [s.uuid for s in a.submissions] == [source.document_uuid]
        linked = cases.cases_for_source(db, analyst, source.uuid)
        assert {c.uuid for c in linked} == {a.uuid, b.uuid}


class TestWorkflow:
    def test_moves_reasons_and_history(
        self, db: Session, analyst: Reviewer, source: SubmittedSource
    ) -> None:
        """Only workflow moves are allowed; discarding and reopening need a listed reason."""
        case = cases.create_case(db, analyst, [source.uuid])
        with pytest.raises(InvalidTransitionError):
            cases.set_status(db, analyst, case.uuid, CaseStatus.VERIFIED)
        with pytest.raises(InvalidTransitionError):
            cases.set_status(db, analyst, case.uuid, CaseStatus.DISCARDED)
        with pytest.raises(InvalidTransitionError):
            cases.set_status(db, analyst, case.uuid, CaseStatus.DISCARDED, "free text here")
        cases.set_status(db, analyst, case.uuid, CaseStatus.DISCARDED, "duplicate")
        cases.set_status(db, analyst, case.uuid, CaseStatus.TRIAGE, "new_information")
        cases.set_status(db, analyst, case.uuid, CaseStatus.VERIFIED)
        cases.set_status(db, analyst, case.uuid, CaseStatus.CLOSED, "resolved")
        db.refresh(case)
        assert case.status is CaseStatus.CLOSED
        assert case.status_reason == "resolved"
        assert [(h.to_status, h.reason) for h in case.history] == [
            (CaseStatus.DISCARDED, "duplicate"),
            (CaseStatus.TRIAGE, "new_information"),
            (CaseStatus.VERIFIED, None),
            (CaseStatus.CLOSED, "resolved"),
        ]

    def test_priority_urgent_due_labels_assignees(
        self, db: Session, analyst: Reviewer, partner: Reviewer, source: SubmittedSource
    ) -> None:
        """The triage attributes are set, filtered on, and partners are never assignees."""
        colleague = _reviewer(db, "analyst2")
        case = cases.create_case(db, analyst, [source.uuid], assignee_uuids=[])
        due = dt.datetime(2030, 1, 2, 12, tzinfo=dt.UTC)
        case_edits.set_priority(db, analyst, case.uuid, CasePriority.HIGH)
        case_edits.set_urgent_medical(db, analyst, case.uuid, True)
        case_edits.set_due(db, analyst, case.uuid, due)
        case_edits.add_label(db, analyst, case.uuid, " Medical ")
        case_edits.assign(db, analyst, case.uuid, colleague.uuid)
        with pytest.raises(cases.InvalidCaseInputError):
            case_edits.assign(db, analyst, case.uuid, partner.uuid)
        with pytest.raises(cases.InvalidCaseInputError):
            case_edits.add_label(db, analyst, case.uuid, "not a label!")
        db.refresh(case)
        assert (case.priority, case.urgent_medical, case.due_at) == (CasePriority.HIGH, True, due)
        assert [lb.label for lb in case.labels] == ["medical"]
        assert [r.uuid for r in case.assignees] == [colleague.uuid]
        flt = CaseListFilter(label="medical", urgent_only=True, assignee=colleague.uuid)
        listed = case_list.list_page(db, analyst, flt).rows
        assert [row.case.uuid for row in listed] == [case.uuid]
        assert case_list.list_page(db, analyst, CaseListFilter(assignee="me")).rows == []
        case_edits.unassign(db, analyst, case.uuid, colleague.uuid)
        case_edits.remove_label(db, analyst, case.uuid, "medical")
        db.refresh(case)
        assert case.assignees == [] and case.labels == []


class TestPartnerRefused:
    def test_every_case_operation_is_refused_and_audited(
        self, db: Session, analyst: Reviewer, partner: Reviewer, source: SubmittedSource
    ) -> None:
        """A partner cannot create, list, open or change a case, even knowing its uuid;
        each refusal is audited though its request rolls back."""
        case = cases.create_case(db, analyst, [source.uuid])
        db.commit()
        attempts = [
            lambda: cases.create_case(db, partner, [source.uuid]),
            lambda: case_list.list_page(db, partner, CaseListFilter()),
            lambda: cases.open_case(db, partner, case.uuid),
            lambda: cases.set_status(db, partner, case.uuid, CaseStatus.TRIAGE),
            lambda: case_links.link_source(db, partner, case.uuid, source.uuid),
            lambda: cases.get_case_by_reference(db, partner, case.reference),
        ]
        for attempt in attempts:
            with pytest.raises(AccessDeniedError):
                attempt()
            finish(db, success=False)  # the request answers 403: rolled back
        denied = db.scalars(
            select(AuditEvent).where(
                AuditEvent.actor_id == partner.id, AuditEvent.action == "case_access_denied"
            )
        ).all()
        assert len(denied) == len(attempts)
        assert cases.cases_for_source(db, partner, source.uuid) == []
