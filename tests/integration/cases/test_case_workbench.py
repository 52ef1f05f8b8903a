"""The reviewer day's shortcuts through the real reviewer app (CSRF on, real gpg, Redis,
SQLite and PostgreSQL): a case opened at its status (each move from New recorded),
replies and a source added from the case page, a partner accepting in the referral
list, the audit log's category links."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from tests.support.consent import record_consent
from tests.support.journalist import Account, login, make_account, make_source, post_form
from vault.models import (
    AuditEvent,
    Case,
    CaseSource,
    CaseStatus,
    CaseStatusChange,
    Referral,
    ReferralStatus,
    Reply,
    Reviewer,
    Role,
    Source,
)
from vault.services import case_workflow, cases, partners
from vault.services.audit_categories import CATEGORIES, category_of


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def _events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as db:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(db.scalars(query))


def _cases(runtime: Runtime) -> list[Case]:
    with runtime.session() as db:
        return list(db.scalars(select(Case).order_by(Case.id)))


def _history(runtime: Runtime, case_id: int) -> list[tuple[str, str]]:
    with runtime.session() as db:
        rows = db.scalars(
            select(CaseStatusChange)
            .where(CaseStatusChange.case_id == case_id)
            .order_by(CaseStatusChange.id)
        )
        return [(row.from_status.value, row.to_status.value) for row in rows]


class TestStatusAtCreation:
    def test_the_path_is_the_workflows_reason_free_moves(self) -> None:
        s = CaseStatus
        assert case_workflow.path_from_new(s.NEW) == []
        assert case_workflow.path_from_new(s.TRIAGE) == [s.TRIAGE]
        assert case_workflow.path_from_new(s.VERIFIED) == [s.TRIAGE, s.VERIFIED]
        assert case_workflow.path_from_new(s.JUDICIAL) == [s.TRIAGE, s.VERIFIED, s.JUDICIAL]
        for refused in (s.REFERRED, s.CLOSED, s.DISCARDED):
            with pytest.raises(case_workflow.InvalidTransitionError):
                case_workflow.path_from_new(refused)

    def test_the_form_opens_at_triage_by_default(
        self, analyst_client: FlaskClient, runtime: Runtime
    ) -> None:
        source = make_source(runtime)
        page = f"/sources/{source.uuid}"
        html = analyst_client.get(page).text
        assert re.search(r'<option selected value="triage">Triage</option>', html), html
        assert 'value="referred"' not in html.split('name="status"')[1].split("</select>")[0]
        form = {"source": source.uuid, "assignees_offered": "1", "status": "triage"}
        assert post_form(analyst_client, "/cases/new", form, page=page).status_code == 302
        (case,) = _cases(runtime)
        assert case.status is CaseStatus.TRIAGE
        assert _history(runtime, case.id) == [("new", "triage")]
        (moved,) = _events(runtime, "case_status_changed")
        assert moved.object_uuid == case.uuid
        assert json.loads(moved.detail or "") == {
            "field": "status",
            "from": "new",
            "to": "triage",
            "reason": None,
        }

    def test_judicial_walks_every_move_each_audited(
        self, analyst_client: FlaskClient, runtime: Runtime
    ) -> None:
        source = make_source(runtime)
        page = f"/sources/{source.uuid}"
        form = {"source": source.uuid, "status": "judicial", "labels": "judicial"}
        response = post_form(analyst_client, "/cases/new", form, page=page)
        assert response.status_code == 302
        (case,) = _cases(runtime)
        assert case.status is CaseStatus.JUDICIAL
        steps = [("new", "triage"), ("triage", "verified"), ("verified", "judicial")]
        assert _history(runtime, case.id) == steps
        moves = _events(runtime, "case_status_changed")
        details = [json.loads(e.detail or "") for e in moves]
        assert [(d["from"], d["to"]) for d in details] == steps
        created = _events(runtime, "case_created")
        assert created[0].seq < moves[0].seq  # created first, then each move in order
        html = analyst_client.get(response.headers["Location"]).text
        assert "Verified → Judicial" in html

    def test_no_status_on_the_form_starts_new_and_a_forged_one_is_refused(
        self, analyst_client: FlaskClient, runtime: Runtime
    ) -> None:
        first, second = make_source(runtime), make_source(runtime)
        page = f"/sources/{first.uuid}"
        post_form(analyst_client, "/cases/new", {"source": first.uuid}, page=page)
        (case,) = _cases(runtime)
        assert case.status is CaseStatus.NEW and _history(runtime, case.id) == []
        for forged in ("referred", "closed", "nonsense"):
            form = {"source": second.uuid, "status": forged}
            response = post_form(analyst_client, "/cases/new", form, page=page)
            assert response.status_code == 400
        assert len(_cases(runtime)) == 1

    def test_the_service_refuses_before_writing(self, runtime: Runtime, analyst: Account) -> None:
        source = make_source(runtime)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.uuid == analyst.uuid)).one()
            with pytest.raises(case_workflow.InvalidTransitionError):
                cases.create_case(db, actor, [source.uuid], status=CaseStatus.CLOSED)
        assert _cases(runtime) == [] and _events(runtime, "case_created") == []


def _new_case(client: FlaskClient, source_uuid: str) -> str:
    page = f"/sources/{source_uuid}"
    response = post_form(client, "/cases/new", {"source": source_uuid}, page=page)
    assert response.status_code == 302
    return str(response.headers["Location"])


class TestCasePage:
    def test_reply_to_each_source_from_the_case_page(
        self, analyst_client: FlaskClient, runtime: Runtime
    ) -> None:
        first, second = make_source(runtime), make_source(runtime)
        case_page = _new_case(analyst_client, first.uuid)
        (case,) = _cases(runtime)
        with runtime.session() as db:
            db.add(CaseSource(case_id=case.id, source_id=_source_id(runtime, second.uuid)))
            db.commit()
        html = analyst_client.get(case_page).text
        for source in (first, second):
            assert f"Reply to {source.designation}" in html
            assert f"{case_page}/sources/{source.uuid}/reply" in html
        text = "REPLY-FROM-CASE-PAGE we read you"
        action = f"{case_page}/sources/{second.uuid}/reply"
        response = post_form(analyst_client, action, {"message": text}, page=case_page)
        assert response.status_code == 302 and response.headers["Location"] == case_page
        landed = analyst_client.get(case_page).text
        assert "Your reply was encrypted and stored for the source." in landed
        with runtime.session() as db:
            (reply,) = db.scalars(select(Reply)).all()
            assert reply.source.uuid == second.uuid
            assert reply.team_copy is not None  # the team's copy, as from the source page
        assert [e.object_uuid for e in _events(runtime, "reply_sent")] == [second.uuid]
        # The colleague reads it on the source's page (team copy opened in memory).
        assert text in analyst_client.get(f"/sources/{second.uuid}").text
        # An empty reply sends nothing; a source not in the case is not found.
        post_form(analyst_client, action, {"message": "   "}, page=case_page)
        other = make_source(runtime)
        stray = f"{case_page}/sources/{other.uuid}/reply"
        assert post_form(analyst_client, stray, {"message": "x"}, page=case_page).status_code == 404
        with runtime.session() as db:
            assert len(db.scalars(select(Reply)).all()) == 1

    def test_add_a_source_by_designation(
        self, analyst_client: FlaskClient, runtime: Runtime
    ) -> None:
        first, second, third = make_source(runtime), make_source(runtime), make_source(runtime)
        case_page = _new_case(analyst_client, first.uuid)
        html = analyst_client.get(case_page).text
        datalist = html.split('<datalist id="source-designations">')[1].split("</datalist>")[0]
        assert f'value="{second.designation}"' in datalist
        assert f'value="{first.designation}"' not in datalist  # in the case already
        assert 'list="source-designations"' in html
        add = f"{case_page}/sources"
        typed = "  " + second.designation.upper() + " "  # as typed: case and spaces aside
        response = post_form(analyst_client, add, {"designation": typed}, page=case_page)
        assert response.status_code == 302 and response.headers["Location"] == case_page
        landed = analyst_client.get(case_page).text
        assert f"{second.designation} was added to the case." in landed
        (case,) = _cases(runtime)
        assert {s.uuid for s in _linked(runtime, case.id)} == {first.uuid, second.uuid}
        linked = _events(runtime, "case_source_linked")
        assert [json.loads(e.detail or "") for e in linked] == [{"source": second.uuid}]
        # Again: already in it, nothing recorded.
        post_form(analyst_client, add, {"designation": second.designation}, page=case_page)
        assert "is in " in analyst_client.get(case_page).text
        assert len(_events(runtime, "case_source_linked")) == 1
        # Unknown: the form again with its error, nothing linked.
        response = post_form(analyst_client, add, {"designation": "no such one"}, page=case_page)
        assert response.status_code == 404 and "No source is called that." in response.text
        # A source in another open case: added, with the warning naming that case.
        other_page = _new_case(analyst_client, third.uuid)
        other_ref = _cases(runtime)[1].reference
        response = post_form(
            analyst_client, add, {"designation": third.designation}, page=case_page
        )
        warned = analyst_client.get(case_page).text
        assert f"is also in the open case {other_ref}" in warned and "flash warning" in warned
        assert other_page != case_page

    def test_forms_need_csrf(self, analyst_client: FlaskClient, runtime: Runtime) -> None:
        source = make_source(runtime)
        case_page = _new_case(analyst_client, source.uuid)
        for path in (f"{case_page}/sources", f"{case_page}/sources/{source.uuid}/reply"):
            assert analyst_client.post(path, data={"message": "x"}).status_code == 400


def _source_id(runtime: Runtime, source_uuid: str) -> int:
    with runtime.session() as db:
        return db.scalars(select(Source.id).where(Source.uuid == source_uuid)).one()


def _linked(runtime: Runtime, case_id: int) -> list:  # type: ignore[type-arg]
    with runtime.session() as db:
        case = db.get(Case, case_id)
        assert case is not None
        return list(case.sources)


class TestAcceptInTheList:
    def test_partner_accepts_from_the_list(self, app: Flask, runtime: Runtime) -> None:
        admin = make_account(runtime, "admin1", Role.ADMIN)
        nurse = make_account(runtime, "nurse1", Role.PARTNER)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
            clinic = partners.create_org(db, actor, "Clinic A", [partners.PartnerService.MEDICAL])
            partners.add_member(db, actor, clinic.uuid, nurse.uuid)
        partner_client = _client(app, nurse)
        analyst = make_account(runtime, "analyst1")
        analyst_client = _client(app, analyst)
        source = make_source(runtime)
        case_page = _new_case(analyst_client, source.uuid)
        (case,) = _cases(runtime)
        record_consent(runtime, analyst.uuid, case.uuid, source.uuid, "refer_partner")
        refer = f"{case_page}/referrals"
        data = {"org": clinic.uuid, "source": source.uuid}
        assert post_form(analyst_client, refer, data, page=refer).status_code == 302
        with runtime.session() as db:
            referral = db.scalars(select(Referral)).one()
        accept = f"/referrals/{referral.uuid}/accept"

        # The analyst sees no Accept button, and a forged post is refused and audited.
        assert accept not in analyst_client.get("/referrals/").text
        response = post_form(analyst_client, accept, page="/referrals/")
        assert response.status_code == 403
        assert len(_events(runtime, "referral_status_denied")) == 1
        # Without the CSRF token: refused.
        assert partner_client.post(accept).status_code == 400

        listing = partner_client.get("/referrals/").text
        assert accept in listing and f"Accept {case.reference}" in listing
        response = post_form(partner_client, accept, page="/referrals/")
        assert response.status_code == 302 and response.headers["Location"] == "/referrals/"
        landed = partner_client.get("/referrals/").text
        assert f"You accepted the referral {case.reference}." in landed
        assert accept not in landed  # accepted: no button any more
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().status is ReferralStatus.ACCEPTED
        (changed,) = _events(runtime, "referral_status_changed")
        assert changed.actor_uuid == nurse.uuid
        assert json.loads(changed.detail or "")["to"] == "accepted"
        # Accepting twice is not a move: refused with a message, nothing changes.
        post_form(partner_client, accept, page=f"/referrals/{referral.uuid}")
        assert "nothing was changed" in partner_client.get("/referrals/").text
        assert len(_events(runtime, "referral_status_changed")) == 1


class TestAuditCategoryLinks:
    def test_one_link_per_category_and_all(
        self, admin_client: FlaskClient, runtime: Runtime
    ) -> None:
        make_source(runtime)
        html = admin_client.get("/admin/audit/?actor=x").text
        nav = html.split('class="category-links"')[1].split("</ul>")[0]
        links = re.findall(r'<a href="([^"]+)"', nav)
        assert len(links) == len(CATEGORIES) + 1
        assert links[0] == "/admin/audit/?actor=x"  # All: the other filters kept
        assert all("actor=x" in link for link in links)
        assert 'aria-current="page">All<' in nav
        filtered = admin_client.get("/admin/audit/?category=accounts").text
        nav = filtered.split('class="category-links"')[1].split("</ul>")[0]
        assert 'href="/admin/audit/?category=accounts" aria-current="page"' in nav
        assert "login" in filtered and 'tr class="event"' in filtered
        actions = re.findall(r"<code>([a-z_]+)</code></a>", filtered)
        assert "login" in actions
        assert all(category_of(action) == "accounts" for action in actions), actions
