"""The case status workflow and the audit chain's hash, without a database."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault import audit_chain
from vault.models import AuditEvent, CaseStatus
from vault.services.case_workflow import (
    InvalidTransitionError,
    allowed_targets,
    check_transition,
    reasons_for,
)


class TestWorkflow:
    @given(st.sampled_from(CaseStatus), st.sampled_from(CaseStatus), st.text(max_size=20))
    def test_only_listed_moves_with_listed_reasons(
        self, current: CaseStatus, target: CaseStatus, reason: str
    ) -> None:
        """Any move outside the table, or with an unlisted reason, is refused."""
        needed = reasons_for(current, target)
        ok = target in allowed_targets(current) and (reason in needed if needed else not reason)
        if ok:
            assert check_transition(current, target, reason) == (reason or None)
        else:
            with pytest.raises(InvalidTransitionError):
                check_transition(current, target, reason)

    def test_every_status_can_be_left_or_reopened(self) -> None:
        """No dead end: closed and discarded cases can be reopened."""
        assert all(allowed_targets(status) for status in CaseStatus)
        assert reasons_for(CaseStatus.CLOSED, CaseStatus.TRIAGE)


class TestChainHash:
    def test_hash_covers_fields_and_link(self) -> None:
        """Changing any covered field, or the previous hash, changes the hash."""
        event = AuditEvent(
            seq=1,
            at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            actor_uuid="a",
            action="login",
            object_type=None,
            object_uuid=None,
            prev_hash=audit_chain.GENESIS,
        )
        base = audit_chain.event_hash(event)
        for field, value in (("action", "logout"), ("actor_uuid", "b"), ("seq", 2)):
            old = getattr(event, field)
            setattr(event, field, value)
            assert audit_chain.event_hash(event) != base
            setattr(event, field, old)
        event.prev_hash = "f" * 64
        assert audit_chain.event_hash(event) != base
        event.prev_hash = audit_chain.GENESIS
        event.actor_id = 42  # a lookup column, nulled on account deletion: not covered
        assert audit_chain.event_hash(event) == base

    def test_detail_is_covered_when_present(self) -> None:
        """Events older than `detail` keep their hash; a detail, once written, is covered."""
        event = AuditEvent(
            seq=1,
            at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            actor_uuid="a",
            action="case_priority_set",
            prev_hash=audit_chain.GENESIS,
        )
        without = audit_chain.event_hash(event)
        event.detail = '{"from":"normal","to":"high"}'
        with_detail = audit_chain.event_hash(event)
        assert with_detail != without
        event.detail = '{"from":"normal","to":"urgent"}'
        assert audit_chain.event_hash(event) not in {with_detail, without}
