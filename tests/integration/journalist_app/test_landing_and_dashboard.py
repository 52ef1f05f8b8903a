"""Where each role lands after login, the navigation it is offered, the dashboard's
counts (the care queue's among them, for those who may open it) linking to the lists
they count, and the inbox list's star, unread badges and sortable headers."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from tests.support.care import URGENT, ask, logged_in, new_source, on_duty
from tests.support.journalist import Account, make_account, make_source, post_form
from vault.models import PartnerMember, PartnerOrg, Referral, Reviewer, Role, Source
from vault.services import case_edits, cases, inbox, submissions


def _nav(page: str) -> str:
    match = re.search(r'<nav aria-label="Main menu">(.*?)</nav>', page, re.S)
    assert match
    return match.group(1)


def _count(page: str, name: str) -> tuple[int, str]:
    """A dashboard count and the link it sits in."""
    match = re.search(rf'<a href="([^"]+)"><strong class="{name}">(\d+)</strong>', page)
    assert match, name
    return int(match.group(2)), html_lib.unescape(match.group(1))


def test_each_role_lands_where_its_work_starts(app: Flask, runtime: Runtime) -> None:
    analyst = make_account(runtime, "analyst1")
    admin = make_account(runtime, "admin1", Role.ADMIN)
    partner = make_account(runtime, "partner1", Role.PARTNER)
    someone = make_account(runtime, "duty1")
    on_duty(runtime, someone)  # the care queue is not every analyst's
    for account, landing in ((analyst, "/dashboard/"), (admin, "/dashboard/")):
        client = app.test_client()
        from tests.support.journalist import login

        assert login(client, account).headers["Location"] == landing
        assert client.get("/login").headers["Location"] == landing  # already logged in
        nav = _nav(client.get(landing).text)
        assert 'href="/dashboard/" aria-current="page"' in nav
        assert 'href="/"' in nav and 'href="/cases/"' in nav

    client = logged_in(app, partner)
    assert client.get("/login").headers["Location"] == "/referrals/"
    assert client.get("/").headers["Location"] == "/referrals/"
    response = client.get("/referrals/")
    # Not yet in an organisation: the page says what to do, not an error.
    assert response.status_code == 200
    assert "not yet a member of a partner organisation" in response.text
    nav = _nav(response.text)
    # Only what a partner can use: no Sources, Dashboard, Cases or Partners links.
    assert 'href="/referrals/" aria-current="page"' in nav
    for path in ("/", "/dashboard/", "/cases/", "/partners/", "/care/"):
        assert f'href="{path}"' not in nav, path


def test_skip_link_and_main_landmark(analyst_client: FlaskClient) -> None:
    page = analyst_client.get("/dashboard/").text
    assert page.index('<a class="skip" href="#main">Skip to main content</a>') < page.index(
        "<header>"
    )
    assert '<main id="main" tabindex="-1">' in page


def test_dashboard_counts_link_to_the_filtered_lists(
    analyst_client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    first, second = make_source(runtime), make_source(runtime)
    now = dt.datetime.now(dt.UTC)
    with runtime.session() as db:
        me = db.scalars(select(Reviewer).where(Reviewer.uuid == analyst.uuid)).one()
        # Opened unassigned (the creator is assigned by default): only `late` is mine.
        urgent = cases.create_case(db, me, [first.uuid], urgent_medical=True, assignee_uuids=[])
        closed_urgent = cases.create_case(db, me, [second.uuid], urgent_medical=True)
        cases.set_status(db, me, closed_urgent.uuid, cases.CaseStatus.DISCARDED, "duplicate")
        late = cases.create_case(db, me, [second.uuid])
        case_edits.set_due(db, me, late.uuid, now - dt.timedelta(days=1))
        case_edits.assign(db, me, late.uuid, me.uuid)
        submissions.mark_seen(db, me, first.uuid)
    page = analyst_client.get("/dashboard/").text
    expected = {
        "unread-total": (2, "/?unread=1", second.designation),
        "urgent-total": (1, "/cases/?urgent=1&status=open", urgent.reference),
        "overdue-total": (1, "/cases/?due=overdue", late.reference),
        "new-total": (2, "/cases/?status=new", late.reference),
        "mine-total": (1, "/cases/?assignee=me&status=open", late.reference),
    }
    for name, (number, link, shown) in expected.items():
        assert _count(page, name) == (number, link), name
        listed = analyst_client.get(link).text
        assert shown in listed, name
    # The filtered lists hold exactly what was counted.
    listed = analyst_client.get("/cases/?urgent=1&status=open").text
    assert urgent.reference in listed and closed_urgent.reference not in listed
    assert first.designation not in analyst_client.get("/?unread=1").text
    # Badges on the dashboard's case lists, the urgent one in words.
    urgent_block = page.split('class="urgent-cases"')[1].split("</div>")[0]
    assert '<span class="badge urgent">Urgent medical</span>' in urgent_block
    # Nobody is on care duty and no request waits: the care count still shows, at 0,
    # for an analyst the queue admits (every analyst while nobody on duty holds a key).
    assert _count(page, "care-total") == (0, "/care/")


def test_dashboard_shows_the_care_queue_to_its_members_only(app: Flask, runtime: Runtime) -> None:
    duty, other = make_account(runtime, "duty1"), make_account(runtime, "other1")
    on_duty(runtime, duty)
    logged_in(app, duty)  # its account key exists: requests are sealed to it
    ask(new_source(runtime), URGENT)
    ask(new_source(runtime), {"needs": ["legal"], "urgency": "later", "recent": "no"})
    member = logged_in(app, duty, step=1)
    page = member.get("/dashboard/").text
    assert _count(page, "care-total") == (2, "/care/")
    assert '<span class="badge care care-urgent">1 urgent</span>' in page
    # Taken: no longer waiting.
    queue = member.get("/care/").text
    first = re.search(r'href="(/care/[0-9a-f-]{36})"', queue)
    assert first
    post_form(member, f"{first.group(1)}/take", page=first.group(1))
    assert _count(member.get("/dashboard/").text, "care-total")[0] == 1
    # An analyst off duty while someone is on it: no care count, no link to the queue.
    page = logged_in(app, other).get("/dashboard/").text
    assert "care-total" not in page and 'href="/care/"' not in page


def test_inbox_star_unread_badge_and_sortable_headers(
    analyst_client: FlaskClient, runtime: Runtime, analyst: Account
) -> None:
    starred, plain = make_source(runtime), make_source(runtime)
    with runtime.session() as db:
        me = db.scalars(select(Reviewer).where(Reviewer.uuid == analyst.uuid)).one()
        inbox.set_starred(db, me, starred.uuid, True)
        submissions.mark_seen(db, me, starred.uuid)
    page = analyst_client.get("/").text
    rows = {
        name: row
        for row in re.findall(r'<tr class="source[^"]*">(.*?)</tr>', page, re.S)
        for name in (starred.designation, plain.designation)
        if name in row
    }
    star_cell = re.search(r'<td class="starred">(.*?)</td>', rows[starred.designation])
    plain_cell = re.search(r'<td class="starred">(.*?)</td>', rows[plain.designation])
    assert star_cell and plain_cell
    assert '<span class="star" aria-hidden="true">★</span>' in star_cell.group(1)
    assert '<span class="sr">starred</span>' in star_cell.group(1)
    assert '<span class="sr">not starred</span>' in plain_cell.group(1)
    assert '<span class="badge unread">2 unread</span>' in rows[plain.designation]
    assert "badge unread" not in rows[starred.designation]
    # Headers sort through links that keep the filters; the current order is marked.
    page = html_lib.unescape(analyst_client.get("/?unread=1&sort=recent").text)
    assert (
        'aria-sort="descending"><a class="sort descending" href="/?unread=1&sort=oldest">' in page
    )
    assert 'href="/?unread=1&sort=name"' in page
    by_name = analyst_client.get("/?sort=name").text
    names = re.findall(r'<a href="/sources/[0-9a-f-]{36}">([^<]+)</a>', by_name)
    assert names == sorted(names) and len(names) == 2
    assert 'aria-sort="ascending"><a class="sort ascending"' in by_name


def test_partner_landing_lists_urgent_referrals_first(app: Flask, runtime: Runtime) -> None:
    partner = make_account(runtime, "partner1", Role.PARTNER)
    analyst = make_account(runtime, "analyst1")
    first, second = make_source(runtime), make_source(runtime)
    with runtime.session() as db:
        me = db.scalars(select(Reviewer).where(Reviewer.uuid == analyst.uuid)).one()
        plain = cases.create_case(db, me, [first.uuid])
        urgent = cases.create_case(db, me, [second.uuid], urgent_medical=True)
        org = PartnerOrg(name="Clinic A", services="medical")
        db.add(org)
        db.flush()
        member = db.scalars(select(Reviewer).where(Reviewer.uuid == partner.uuid)).one()
        db.add(PartnerMember(reviewer_id=member.id, org_id=org.id))
        # The plain case was referred last: newest first would put it on top.
        for case, source in ((urgent, second), (plain, first)):
            source_id = db.scalars(select(Source.id).where(Source.uuid == source.uuid)).one()
            db.add(Referral(case_id=case.id, org_id=org.id, source_id=source_id))
            db.flush()
        db.commit()
    client = logged_in(app, partner)
    page = client.get(client.get("/").headers["Location"]).text
    references = re.findall(r'<a href="/referrals/[0-9a-f-]{36}">([^<]+)</a>', page)
    assert references == [urgent.reference, plain.reference]
    assert page.count('<span class="badge urgent">Urgent medical</span>') == 1
    assert '<span class="referral-status">Proposed</span>' in page
