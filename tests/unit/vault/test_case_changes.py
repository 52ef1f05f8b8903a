"""What a case edit changes, and how the status follows a referral, without a database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.models import CasePriority, CaseStatus, ReferralStatus
from vault.services.case_changes import (
    InvalidLabelError,
    Triage,
    changes,
    default_priority,
    parse_labels,
)
from vault.services.case_workflow import follow_referral, suggested_move

S, R = CaseStatus, ReferralStatus
BASE = Triage(CasePriority.NORMAL, False, None, frozenset({"kivu"}), frozenset({"uuid-a"}))

triages = st.builds(
    Triage,
    st.sampled_from(CasePriority),
    st.booleans(),
    st.one_of(st.none(), st.dates()),
    st.frozensets(st.sampled_from(["kivu", "medical", "legal"])),
    st.frozensets(st.sampled_from(["uuid-a", "uuid-b"])),
)


class TestChanges:
    @given(triages)
    def test_nothing_changed_records_nothing(self, triage: Triage) -> None:
        """Saving the form as it was shown makes no change at all."""
        assert changes(triage, triage) == []

    def test_only_the_priority(self) -> None:
        """Changing the priority is one change, with from and to; nothing else."""
        [change] = changes(BASE, replace(BASE, priority=CasePriority.HIGH))
        assert change.action == "case_priority_changed"
        assert change.detail() == {"field": "priority", "from": "normal", "to": "high"}

    def test_urgent_cleared_only_when_it_was_set(self) -> None:
        """No "urgent cleared" for a case that was never urgent."""
        assert changes(BASE, replace(BASE, urgent=False)) == []
        urgent = replace(BASE, urgent=True)
        assert [c.action for c in changes(BASE, urgent)] == ["case_urgent_set"]
        assert [c.action for c in changes(urgent, BASE)] == ["case_urgent_cleared"]

    def test_labels_and_assignees_one_change_each(self) -> None:
        """Each label or assignee added or removed is its own change, sorted."""
        after = replace(
            BASE,
            labels=frozenset({"medical", "legal"}),
            assignees=frozenset({"uuid-a", "uuid-b"}),
            due=dt.date(2030, 1, 2),
        )
        assert [(c.action, c.before, c.after) for c in changes(BASE, after)] == [
            ("case_due_set", None, "2030-01-02"),
            ("case_label_added", None, "legal"),
            ("case_label_added", None, "medical"),
            ("case_label_removed", "kivu", None),
            ("case_assigned", None, "uuid-b"),
        ]

    @given(triages, triages)
    def test_every_difference_is_recorded(self, before: Triage, after: Triage) -> None:
        """As many changes as differing fields and set members."""
        expected = (
            (before.priority is not after.priority)
            + (before.urgent != after.urgent)
            + (before.due != after.due)
            + len(before.labels ^ after.labels)
            + len(before.assignees ^ after.assignees)
        )
        assert len(changes(before, after)) == expected


class TestLabelsAndDefaults:
    def test_parse_labels(self) -> None:
        """Spaces, commas and case do not matter; repeats count once; order is kept."""
        assert parse_labels(" Medical  kivu,legal medical ") == ["medical", "kivu", "legal"]
        assert parse_labels("   ") == []

    @pytest.mark.parametrize(
        "text", ["not!", "-dash", "x" * 33, " ".join(f"l{i}" for i in range(21))]
    )
    def test_bad_labels_refused(self, text: str) -> None:
        with pytest.raises(InvalidLabelError):
            parse_labels(text)

    def test_urgent_starts_high(self) -> None:
        assert default_priority(True) is CasePriority.HIGH
        assert default_priority(False) is CasePriority.NORMAL


class TestFollowReferral:
    @pytest.mark.parametrize("current", [S.NEW, S.TRIAGE, S.VERIFIED])
    def test_referring_moves_to_referred(self, current: CaseStatus) -> None:
        assert follow_referral(current, R.PROPOSED, False) == (S.REFERRED, "referral_made")

    @pytest.mark.parametrize("current", [S.REFERRED, S.JUDICIAL, S.CLOSED, S.DISCARDED])
    def test_referring_leaves_later_statuses(self, current: CaseStatus) -> None:
        """A judicial, closed or discarded case is not moved by a referral."""
        assert follow_referral(current, R.PROPOSED, False) is None

    def test_declined_goes_back_to_verified_unless_another_is_active(self) -> None:
        assert follow_referral(S.REFERRED, R.DECLINED, False) == (S.VERIFIED, "referral_declined")
        assert follow_referral(S.REFERRED, R.DECLINED, True) is None
        assert follow_referral(S.JUDICIAL, R.DECLINED, False) is None

    @pytest.mark.parametrize("status", [R.ACCEPTED, R.IN_PROGRESS, R.COMPLETED])
    def test_the_partners_progress_never_moves_the_case(self, status: ReferralStatus) -> None:
        """Accepting, starting and completing change nothing: closing is the analyst's."""
        for current in CaseStatus:
            assert follow_referral(current, status, False) is None

    def test_close_suggested_when_referrals_ended_with_a_completion(self) -> None:
        assert suggested_move(S.REFERRED, [R.COMPLETED, R.DECLINED]) == (
            S.CLOSED,
            "referral_completed",
        )
        assert suggested_move(S.REFERRED, [R.COMPLETED, R.ACCEPTED]) is None
        assert suggested_move(S.REFERRED, [R.DECLINED]) is None
        assert suggested_move(S.JUDICIAL, [R.COMPLETED]) is None
