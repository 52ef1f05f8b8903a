"""The case list through the reviewer app: the columns people sort by, sorting through
header links, one toolbar of combined filters, badges, and a fixed number of queries
whatever the page holds."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from dataclasses import dataclass

from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.support.journalist import Account, make_account, make_source
from vault.models import (
    CasePriority,
    CaseStatus,
    PartnerOrg,
    Referral,
    ReferralStatus,
    Reviewer,
    Source,
)
from vault.services import case_edits, case_list, cases

_ROW = re.compile(r'<tr class="case[^"]*">(.*?)</tr>', re.S)
_REFERENCE = re.compile(
    r'<td class="reference"><a class="nowrap" href="/cases/[0-9a-f-]{36}">([^<]+)</a>'
)


@dataclass
class World:
    """Four cases an analyst would triage, with everything the columns show."""

    plain: str  # normal priority, nothing else
    urgent: str  # urgent medical, high, assigned to the analyst, labelled, referred
    high: str  # high priority, due in three days, assigned to a colleague
    late: str  # low priority, overdue, labelled, discarded
    designation: str
    colleague: Reviewer


def _reviewer(db: Session, account: Account) -> Reviewer:
    return db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()


def _world(runtime: Runtime, analyst: Account) -> World:
    colleague_account = make_account(runtime, "colleague1")
    first, second = make_source(runtime), make_source(runtime)
    now = dt.datetime.now(dt.UTC)
    with runtime.session() as db:
        me, colleague = _reviewer(db, analyst), _reviewer(db, colleague_account)
        # Assignees set below, explicitly; the sources' further cases are deliberate.
        unassigned: list[str] = []
        plain = cases.create_case(db, me, [first.uuid], assignee_uuids=unassigned)
        urgent = cases.create_case(
            db,
            me,
            [first.uuid, second.uuid],
            priority=CasePriority.HIGH,
            urgent_medical=True,
            assignee_uuids=unassigned,
            second_case_confirmed=True,
        )
        high = cases.create_case(
            db,
            me,
            [second.uuid],
            priority=CasePriority.HIGH,
            assignee_uuids=unassigned,
            second_case_confirmed=True,
        )
        late = cases.create_case(
            db,
            me,
            [second.uuid],
            priority=CasePriority.LOW,
            assignee_uuids=unassigned,
            second_case_confirmed=True,
        )
        case_edits.assign(db, me, urgent.uuid, me.uuid)
        case_edits.add_label(db, me, urgent.uuid, "kivu")
        case_edits.add_label(db, me, late.uuid, "kivu")
        case_edits.add_label(db, me, late.uuid, "legal")
        case_edits.assign(db, me, high.uuid, colleague.uuid)
        case_edits.set_due(db, me, high.uuid, now + dt.timedelta(days=3))
        case_edits.set_due(db, me, late.uuid, now - dt.timedelta(days=2))
        cases.set_status(db, me, late.uuid, CaseStatus.DISCARDED, "duplicate")
        org = PartnerOrg(name="Clinic A", services="medical")
        db.add(org)
        db.flush()
        source_id = db.scalars(select(Source.id).where(Source.uuid == first.uuid)).one()
        db.add(
            Referral(
                case_id=urgent.id,
                org_id=org.id,
                source_id=source_id,
                status=ReferralStatus.ACCEPTED,
            )
        )
        db.commit()
        return World(
            plain.reference,
            urgent.reference,
            high.reference,
            late.reference,
            first.designation,
            colleague,
        )


def _rows(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"/cases/{query}")
    assert response.status_code == 200
    return _ROW.findall(response.get_data(as_text=True))


def _refs(client: FlaskClient, query: str = "") -> list[str]:
    return [m.group(1) for row in _rows(client, query) if (m := _REFERENCE.search(row))]


def _cell(row: str, name: str) -> str:
    match = re.search(rf'<td class="{name}">(.*?)</td>', row, re.S)
    assert match, name
    return match.group(1)


def test_columns_and_default_order(
    analyst_client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    w = _world(runtime, analyst)
    # Urgent first, then priority (high before normal before low), then due date.
    assert _refs(analyst_client) == [w.urgent, w.high, w.plain, w.late]
    urgent, high, plain, late = _rows(analyst_client)
    assert w.designation in _cell(urgent, "sources") and w.designation in _cell(plain, "sources")
    assert '<span class="badge urgent">Urgent medical</span>' in _cell(urgent, "urgency")
    assert _cell(plain, "urgency") == ""
    assert '<span class="badge priority-high">High</span>' in _cell(urgent, "priority")
    assert '<span class="badge priority-low">Low</span>' in _cell(late, "priority")
    assert '<span class="badge status status-new">New</span>' in _cell(urgent, "status")
    assert "Discarded" in _cell(late, "status")
    assert '<span class="badge label">kivu</span>' in _cell(urgent, "labels")
    assert "legal" in _cell(late, "labels") and "kivu" in _cell(late, "labels")
    assert "analyst1" in _cell(urgent, "assignees")
    assert "colleague1" in _cell(high, "assignees")
    assert "Unassigned" in _cell(plain, "assignees")
    referral = _cell(urgent, "referrals")
    assert "Clinic A" in referral and "badge referral referral-accepted" in referral
    assert "Accepted" in referral and _cell(plain, "referrals") == ""
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%d")
    assert due in _cell(high, "due") and "Overdue" not in _cell(high, "due")
    assert _cell(plain, "due") == ""
    # Discarded: no longer overdue, whatever its date says.
    assert "Overdue" not in _cell(late, "due")
    assert "<time" in _cell(plain, "activity")


def test_sorting_through_header_links(
    analyst_client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    w = _world(runtime, analyst)
    # Due date: soonest first, cases without one last (in both directions).
    assert _refs(analyst_client, "?sort=due&dir=asc") == [w.late, w.high, w.urgent, w.plain]
    assert _refs(analyst_client, "?sort=due&dir=desc") == [w.high, w.late, w.urgent, w.plain]
    by_reference = sorted([w.plain, w.urgent, w.high, w.late])
    assert _refs(analyst_client, "?sort=reference&dir=asc") == by_reference
    assert _refs(analyst_client, "?sort=reference&dir=desc") == by_reference[::-1]
    # Priority: high first by default; ties keep urgent first.
    assert _refs(analyst_client, "?sort=priority")[:2] == [w.urgent, w.high]
    assert _refs(analyst_client, "?sort=priority&dir=asc")[0] == w.late
    # Status in workflow order: new before discarded.
    assert _refs(analyst_client, "?sort=status&dir=asc")[-1] == w.late
    assert _refs(analyst_client, "?sort=urgent&dir=desc")[0] == w.urgent
    assert _refs(analyst_client, "?sort=activity&dir=desc")[0] == w.late  # changed last

    page = html_lib.unescape(analyst_client.get("/cases/?sort=due&dir=asc&label=kivu").text)
    # The sorted column says so; its link reverses the order and keeps the filter.
    assert re.search(
        r'<th scope="col" aria-sort="ascending"><a class="sort ascending" '
        r'href="/cases/\?label=kivu&sort=due&dir=desc">Due</a>',
        page,
    )
    # Another column's link sorts it in its usual direction, filter kept.
    assert 'href="/cases/?label=kivu&sort=priority&dir=desc"' in page
    # The toolbar keeps the order when filtering again.
    assert '<input type="hidden" name="sort" value="due">' in page
    # Unknown sort keys or directions fall back to the default order, never an error.
    assert _refs(analyst_client, "?sort=password&dir=sideways") == _refs(analyst_client)


def test_toolbar_filters_combine(
    analyst_client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    w = _world(runtime, analyst)
    assert set(_refs(analyst_client, "?label=kivu")) == {w.urgent, w.late}
    assert _refs(analyst_client, "?label=kivu&status=new") == [w.urgent]
    assert _refs(analyst_client, "?status=open") == [w.urgent, w.high, w.plain]
    assert _refs(analyst_client, "?urgent=1") == [w.urgent]
    assert _refs(analyst_client, "?assignee=me") == [w.urgent]
    assert _refs(analyst_client, "?mine=1") == [w.urgent]  # the older link still works
    assert _refs(analyst_client, f"?assignee={w.colleague.uuid}") == [w.high]
    assert set(_refs(analyst_client, "?assignee=none")) == {w.plain, w.late}
    assert _refs(analyst_client, "?referral=accepted") == [w.urgent]
    assert _refs(analyst_client, "?referral=any") == [w.urgent]
    assert _refs(analyst_client, "?referral=declined") == []
    assert w.urgent not in _refs(analyst_client, "?referral=none")
    assert _refs(analyst_client, "?due=soon") == [w.high]
    assert _refs(analyst_client, "?due=overdue") == []  # the late one is discarded
    number = w.high.rsplit("-", 1)[1]
    assert _refs(analyst_client, f"?q={number}") == [w.high]
    assert _refs(analyst_client, f"?q={w.high.lower()}") == [w.high]  # as typed
    assert set(_refs(analyst_client, f"?q={w.designation.split()[0].upper()}")) >= {
        w.urgent,
        w.plain,
    }
    assert _refs(analyst_client, "?q=%25") == []  # a wildcard is a character here
    assert _refs(analyst_client, "?label=kivu&urgent=1&assignee=me&referral=accepted") == [w.urgent]
    # Unknown values are ignored rather than refused.
    assert len(_refs(analyst_client, "?status=bogus&referral=bogus&due=bogus&page=x")) == 4

    # The current filter is visible: selected in the toolbar, and said above the list.
    page = analyst_client.get("/cases/?label=kivu&assignee=me&urgent=1").text
    assert '<option value="kivu" selected>kivu</option>' in page
    assert '<option value="me" selected>' in page
    assert 'name="urgent" value="1" checked' in page
    assert 'class="filter-summary"' in page and '<a href="/cases/">Reset</a>' in page
    assert 'class="filter-summary"' not in analyst_client.get("/cases/").text
    toolbar = re.search(
        r'<form method="get" action="/cases/" class="toolbar".*?</form>', page, re.S
    )
    assert toolbar and toolbar.group(0).count("<label") == 7  # every control labelled
    assert '<button type="submit">Filter</button>' in toolbar.group(0)


def test_pages_and_no_query_per_row(runtime: Runtime, analyst: Account) -> None:
    made = [make_source(runtime) for _ in range(3)]
    with runtime.session() as db:
        me = _reviewer(db, analyst)
        for source in made:
            case = cases.create_case(db, me, [source.uuid])
            case_edits.assign(db, me, case.uuid, me.uuid)
            case_edits.add_label(db, me, case.uuid, "kivu")
        db.commit()  # the cases' own request ended before the list's

        def count(size: int) -> tuple[int, int]:
            seen: list[str] = []

            def one(*_args: object) -> None:
                seen.append("q")

            event.listen(runtime.engine, "before_cursor_execute", one)
            try:
                page = case_list.list_page(db, me, case_list.CaseListFilter(), page_size=size)
                for row in page.rows:  # everything the template reads
                    _ = [row.sources, row.case.assignees, row.case.labels, row.referrals]
                db.commit()  # as the request does: the page's audit event is written here
            finally:
                event.remove(runtime.engine, "before_cursor_execute", one)
            return len(seen), len(page.rows)

        small, large = count(1), count(50)
        assert (small[1], large[1]) == (1, 3)
        assert small[0] == large[0]  # the same statements for one row or three

        first = case_list.list_page(db, me, case_list.CaseListFilter(page=1), page_size=2)
        second = case_list.list_page(db, me, case_list.CaseListFilter(page=2), page_size=2)
        assert (first.has_next, len(first.rows)) == (True, 2)
        assert (second.has_next, len(second.rows)) == (False, 1)


def test_partner_gets_no_case_list(partner_client: FlaskClient) -> None:
    assert partner_client.get("/cases/").status_code == 403
