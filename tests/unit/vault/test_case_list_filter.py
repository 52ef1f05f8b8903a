"""Reading the case list's query string: known values kept, anything else ignored."""

from __future__ import annotations

from vault.models import CaseStatus
from vault.services.case_list import CaseListFilter, parse_filter


class TestParseFilter:
    def test_every_filter_is_read(self) -> None:
        """Each toolbar control maps to one field."""
        flt = parse_filter(
            {
                "q": "  bu-2026   00 ",
                "status": "triage",
                "label": " Kivu ",
                "assignee": "me",
                "urgent": "1",
                "referral": "accepted",
                "due": "overdue",
                "sort": "due",
                "dir": "desc",
                "page": "3",
            }
        )
        assert flt == CaseListFilter(
            status=CaseStatus.TRIAGE,
            label="kivu",
            assignee="me",
            urgent_only=True,
            referral="accepted",
            due="overdue",
            search="bu-2026 00",
            sort="due",
            direction="desc",
            page=3,
        )
        assert flt.active and flt.effective_direction == "desc"

    def test_unknown_values_are_ignored(self) -> None:
        """A hand-edited or stale link shows the whole list rather than an error."""
        flt = parse_filter(
            {"status": "x", "referral": "x", "due": "x", "sort": "x", "dir": "x", "page": "x"}
        )
        assert flt == CaseListFilter()
        assert not flt.active
        assert parse_filter({"page": "-4"}).page == 1

    def test_open_and_older_links(self) -> None:
        """status=open is every open status; mine=1 still means assigned to me."""
        flt = parse_filter({"status": "open", "mine": "1"})
        assert flt.open_only and flt.status is None and flt.assignee == "me"

    def test_a_column_sorts_in_its_usual_direction(self) -> None:
        """Without a direction: due dates soonest first, activity newest first."""
        assert parse_filter({"sort": "due"}).effective_direction == "asc"
        assert parse_filter({"sort": "activity"}).effective_direction == "desc"
        assert parse_filter({"sort": "priority"}).effective_direction == "desc"
