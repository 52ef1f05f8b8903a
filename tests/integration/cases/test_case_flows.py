"""The analyst's case flows through the reviewer app (CSRF on, real database): a case
opened with everything triage needs in one submit, the warning before a second case for
the same source, the case page's one edit form recording exactly what changed, and the
case status following its referral."""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from tests.support.consent import record_consent
from tests.support.journalist import (
    Account,
    SubmittedSource,
    login,
    make_account,
    make_source,
    post_form,
)
from vault.models import (
    AuditEvent,
    Case,
    CasePriority,
    CaseStatus,
    Referral,
    ReferralStatus,
    Reviewer,
    Role,
)
from vault.services import partners


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def _cases(runtime: Runtime) -> list[Case]:
    with runtime.session() as db:
        found = list(db.scalars(select(Case).order_by(Case.id)))
        for case in found:  # load what the assertions read
            _ = case.labels, case.assignees, case.history
        return found


def _events(runtime: Runtime, case: Case, after: int = 0) -> list[tuple[str, dict | None]]:
    """The case's audit events after event id `after`: action and detail."""
    with runtime.session() as db:
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_uuid == case.uuid, AuditEvent.id > after)
            .order_by(AuditEvent.id)
        ).all()
        return [(e.action, json.loads(e.detail) if e.detail else None) for e in rows]


def _last_event_id(runtime: Runtime) -> int:
    with runtime.session() as db:
        return db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


class _Team:
    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.me = make_account(runtime, "analyst1")
        self.colleague = make_account(runtime, "analyst2")
        self.client = _client(app, self.me)
        self.source: SubmittedSource = make_source(runtime)
        self.page = f"/sources/{self.source.uuid}"


@pytest.fixture
def team(app: Flask, runtime: Runtime) -> _Team:
    return _Team(app, runtime)


def _open_case(team: _Team, **extra: str | list[str]) -> object:
    data = {"source": team.source.uuid, "assignees_offered": "1", **extra}
    token = re.search(r'name="csrf_token" value="([^"]+)"', team.client.get(team.page).text)
    assert token
    return team.client.post("/cases/new", data={**data, "csrf_token": token.group(1)})


class TestOpenACase:
    def test_everything_in_one_submit(self, team: _Team, runtime: Runtime) -> None:
        """Urgency, labels, two assignees and a due date in one form; an urgent case
        starts at high priority; the urgent flag is recorded at creation, with it."""
        page = team.client.get(team.page).text
        # The creator is ticked by default; the checkbox stands inside its label.
        assert re.search(
            rf'<label class="check"><input type="checkbox" name="assignee" '
            rf'value="{team.me.uuid}" checked> {team.me.username}</label>',
            page,
        )
        assert '<label class="check"><input id="urgent_medical"' in page
        response = _open_case(
            team,
            urgent_medical="y",
            priority="",
            labels="Medical kivu",
            assignee=[team.me.uuid, team.colleague.uuid],
            due="2030-01-02",
        )
        assert response.status_code == 302  # type: ignore[attr-defined]
        [case] = _cases(runtime)
        assert case.priority is CasePriority.HIGH and case.urgent_medical
        assert [lb.label for lb in case.labels] == ["kivu", "medical"]
        assert {r.uuid for r in case.assignees} == {team.me.uuid, team.colleague.uuid}
        assert case.due_at is not None and case.due_at.date().isoformat() == "2030-01-02"
        events = _events(runtime, case)
        assert events[0] == (
            "case_created",
            {"priority": "high", "urgent_medical": True, "due": "2030-01-02"},
        )
        assert sorted(a for a, _ in events[1:]) == [
            "case_assigned",
            "case_assigned",
            "case_label_added",
            "case_label_added",
        ]
        # Nothing else, and no urgent event a minute later.
        assert "case_urgent_set" not in [a for a, _ in _events(runtime, case)]
        team.client.get(f"/cases/{case.uuid}")
        assert [a for a, _ in _events(runtime, case)][-1] == "case_viewed"

    def test_defaults_and_choices(self, team: _Team, runtime: Runtime) -> None:
        """Without a choice the creator is assigned and a non-urgent case is normal; an
        urgent case the analyst put at low stays low; all boxes unticked: nobody."""
        post_form(team.client, "/cases/new", {"source": team.source.uuid}, page=team.page)
        other = make_source(runtime)
        team.source = other
        team.page = f"/sources/{other.uuid}"
        _open_case(team, urgent_medical="y", priority="low")
        first, second = _cases(runtime)
        assert first.priority is CasePriority.NORMAL
        assert [r.uuid for r in first.assignees] == [team.me.uuid]
        assert second.priority is CasePriority.LOW and second.urgent_medical
        assert second.assignees == []

    def test_bad_labels_keep_the_form(self, team: _Team, runtime: Runtime) -> None:
        response = _open_case(team, labels="fine not-fine!")
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "Labels are short lower-case words" in response.text  # type: ignore[attr-defined]
        assert 'value="fine not-fine!"' in response.text  # type: ignore[attr-defined]
        assert _cases(runtime) == []

    def test_its_own_page(self, team: _Team) -> None:
        page = team.client.get(f"/cases/new?source={team.source.uuid}")
        assert page.status_code == 200
        assert team.source.designation in page.text and "autofocus" in page.text
        missing = team.client.get("/cases/new?source=00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404


class TestSecondCase:
    def test_warned_and_confirmed_with_the_first_ones_flags(
        self, team: _Team, runtime: Runtime
    ) -> None:
        """A source in an open case: the page names that case and offers to add to it
        first; a second case is refused without confirmation, then starts with the
        first one's urgency and labels."""
        _open_case(team, urgent_medical="y", labels="medical kivu", assignee=[team.me.uuid])
        [first] = _cases(runtime)
        page = team.client.get(team.page).text
        warning = page.index("This source is already in the open case")
        assert first.reference in page[warning:]
        add = page.index(f"Add to {first.reference}")
        second_form = page.index("Open a second case for this source")
        assert warning < add < second_form  # the case that exists comes first
        form = page[second_form:]
        assert 'id="urgent_medical" name="urgent_medical" type="checkbox" value="y"' in form
        assert "checked" in form[form.index('id="urgent_medical"') - 80 :][:200]
        assert 'value="kivu medical"' in form

        refused = _open_case(team, urgent_medical="y", labels="medical kivu")
        assert refused.status_code == 409  # type: ignore[attr-defined]
        assert "already in the open case" in html_lib.unescape(refused.text)  # type: ignore[attr-defined]
        assert len(_cases(runtime)) == 1

        made = _open_case(team, urgent_medical="y", labels="medical kivu", confirm_second="y")
        assert made.status_code == 302  # type: ignore[attr-defined]
        _, second = _cases(runtime)
        assert second.urgent_medical and [lb.label for lb in second.labels] == ["kivu", "medical"]
        assert _events(runtime, second)[0][1]["second_case"] is True  # type: ignore[index]

    def test_add_to_that_case(self, team: _Team, runtime: Runtime) -> None:
        """The primary action leads to the existing case and records nothing new."""
        _open_case(team)
        [case] = _cases(runtime)
        before = _last_event_id(runtime)
        response = post_form(
            team.client,
            "/cases/link?kind=source",
            {"case": case.reference, "target": team.source.uuid},
            page=team.page,
        )
        assert response.headers["Location"].endswith(f"/cases/{case.uuid}")
        assert _events(runtime, case, before) == []
        assert len(_cases(runtime)) == 1

    def test_closed_case_does_not_warn(self, team: _Team, runtime: Runtime) -> None:
        _open_case(team)
        [case] = _cases(runtime)
        page = f"/cases/{case.uuid}"
        post_form(
            team.client, f"{page}/status", {"status": "discarded", "reason": "duplicate"}, page=page
        )
        assert "already in the open case" not in team.client.get(team.page).text
        assert _open_case(team).status_code == 302  # type: ignore[attr-defined]


def _edit_data(case: Case) -> dict[str, str | list[str]]:
    """The edit form as the case page shows it (every field, unchanged)."""
    data: dict[str, str | list[str]] = {
        "priority": case.priority.value,
        "labels": " ".join(lb.label for lb in case.labels),
        "assignee": [r.uuid for r in case.assignees],
        "due": case.due_at.date().isoformat() if case.due_at else "",
    }
    if case.urgent_medical:
        data["urgent_medical"] = "y"
    return data


def _edit(team: _Team, case: Case, data: dict[str, str | list[str]]) -> object:
    page = f"/cases/{case.uuid}"
    token = re.search(r'name="csrf_token" value="([^"]+)"', team.client.get(page).text)
    assert token
    return team.client.post(f"{page}/edit", data={**data, "csrf_token": token.group(1)})


class TestEditForm:
    def test_saving_unchanged_records_nothing(self, team: _Team, runtime: Runtime) -> None:
        _open_case(team, labels="medical", assignee=[team.me.uuid], due="2030-01-02")
        [case] = _cases(runtime)
        before = _last_event_id(runtime)
        response = _edit(team, case, _edit_data(case))
        assert response.status_code == 302  # type: ignore[attr-defined]
        assert [a for a, _ in _events(runtime, case, before)] == ["case_viewed"]
        flashed = team.client.get(f"/cases/{case.uuid}").text
        assert "Nothing was changed." in flashed

    def test_only_the_priority(self, team: _Team, runtime: Runtime) -> None:
        """The old bug: saving the priority logged "urgent cleared" on cases never
        urgent. Now only the priority is recorded, with from and to."""
        _open_case(team, labels="medical")
        [case] = _cases(runtime)
        before = _last_event_id(runtime)
        _edit(team, case, {**_edit_data(case), "priority": "high"})
        assert _events(runtime, case, before) == [
            ("case_viewed", None),
            ("case_priority_changed", {"field": "priority", "from": "normal", "to": "high"}),
        ]
        # The single-purpose endpoint kept for older pages behaves the same.
        before = _last_event_id(runtime)
        page = f"/cases/{case.uuid}"
        post_form(team.client, f"{page}/priority", {"priority": "low"}, page=page)
        assert [a for a, _ in _events(runtime, case, before)] == [
            "case_viewed",
            "case_priority_changed",
        ]

    def test_everything_in_one_save(self, team: _Team, runtime: Runtime) -> None:
        """Labels added and removed, urgency, due date and assignees in one save: one
        event per real change, each saying what it was and what it became."""
        _open_case(team, labels="medical kivu", assignee=[team.me.uuid])
        [case] = _cases(runtime)
        before = _last_event_id(runtime)
        _edit(
            team,
            case,
            {
                "priority": "normal",
                "urgent_medical": "y",
                "labels": "kivu legal",
                "assignee": [team.colleague.uuid],
                "due": "2031-05-06",
            },
        )
        events = [e for e in _events(runtime, case, before) if e[0] != "case_viewed"]
        assert events == [
            ("case_urgent_set", {"field": "urgent_medical", "from": False, "to": True}),
            ("case_due_set", {"field": "due", "from": None, "to": "2031-05-06"}),
            ("case_label_added", {"field": "label", "from": None, "to": "legal"}),
            ("case_label_removed", {"field": "label", "from": "medical", "to": None}),
            ("case_assigned", {"field": "assignee", "from": None, "to": team.colleague.uuid}),
            ("case_unassigned", {"field": "assignee", "from": team.me.uuid, "to": None}),
        ]
        [case] = _cases(runtime)
        assert [lb.label for lb in case.labels] == ["kivu", "legal"]
        assert [r.uuid for r in case.assignees] == [team.colleague.uuid]
        # Unticking urgency now records that it was cleared, once.
        before = _last_event_id(runtime)
        data = _edit_data(case)
        data.pop("urgent_medical")
        _edit(team, case, data)
        assert [a for a, _ in _events(runtime, case, before)][1:] == ["case_urgent_cleared"]

    def test_partner_cannot_be_assigned(self, team: _Team, runtime: Runtime) -> None:
        partner = make_account(runtime, "partner1", Role.PARTNER)
        _open_case(team, assignee=[team.me.uuid])
        [case] = _cases(runtime)
        _edit(team, case, {**_edit_data(case), "assignee": [partner.uuid]})
        [case] = _cases(runtime)
        assert [r.uuid for r in case.assignees] == [team.me.uuid]


class TestStatusFollowsReferral:
    @pytest.fixture
    def referred(self, app: Flask, runtime: Runtime, team: _Team) -> tuple[Case, str, FlaskClient]:
        admin = make_account(runtime, "admin1", Role.ADMIN)
        nurse = make_account(runtime, "nurse", Role.PARTNER)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
            org = partners.create_org(db, actor, "Clinic A", [partners.PartnerService.MEDICAL])
            partners.add_member(db, actor, org.uuid, nurse.uuid)
        partner = _client(app, nurse)
        _open_case(team)
        [case] = _cases(runtime)
        assert case.status is CaseStatus.NEW
        record_consent(runtime, team.me.uuid, case.uuid, team.source.uuid, "refer_partner")
        refer = f"/cases/{case.uuid}/referrals"
        assert "Referring moves the case to Referred." in team.client.get(refer).text
        data = {"org": org.uuid, "source": team.source.uuid}
        post_form(team.client, refer, data, page=refer)
        with runtime.session() as db:
            referral_uuid = db.scalars(select(Referral)).one().uuid
        return case, referral_uuid, partner

    def test_referring_moves_the_case_to_referred(
        self, runtime: Runtime, referred: tuple[Case, str, FlaskClient]
    ) -> None:
        case, referral_uuid, _ = referred
        [case] = _cases(runtime)
        assert case.status is CaseStatus.REFERRED and case.status_reason == "referral_made"
        assert [(h.from_status, h.to_status) for h in case.history] == [
            (CaseStatus.NEW, CaseStatus.REFERRED)
        ]
        [(_, detail)] = [e for e in _events(runtime, case) if e[0] == "case_status_changed"]
        assert detail == {
            "field": "status",
            "from": "new",
            "to": "referred",
            "reason": "referral_made",
            "referral": referral_uuid,
        }

    def test_only_the_partner_moves_the_referral_forward(
        self, team: _Team, runtime: Runtime, referred: tuple[Case, str, FlaskClient]
    ) -> None:
        """The analyst is not offered accept/start/complete, and is refused if asking;
        the partner is offered them; accepting and starting leave the case referred."""
        case, referral_uuid, partner = referred
        page = f"/referrals/{referral_uuid}"
        mine = team.client.get(page).text
        assert "Mark as Accepted" not in mine and "Mark as Declined" in mine
        refused = post_form(team.client, f"{page}/status", {"status": "accepted"}, page=page)
        assert refused.status_code == 403
        theirs = partner.get(page).text
        assert "Mark as Accepted" in theirs
        post_form(partner, f"{page}/status", {"status": "accepted"}, page=page)
        assert "Mark as In progress" in partner.get(page).text
        assert "Mark as In progress" not in team.client.get(page).text
        post_form(partner, f"{page}/status", {"status": "in_progress"}, page=page)
        [case] = _cases(runtime)
        assert case.status is CaseStatus.REFERRED

    def test_declined_sends_the_case_back_to_verified(
        self, runtime: Runtime, referred: tuple[Case, str, FlaskClient]
    ) -> None:
        case, referral_uuid, partner = referred
        page = f"/referrals/{referral_uuid}"
        post_form(partner, f"{page}/status", {"status": "declined"}, page=page)
        [case] = _cases(runtime)
        assert case.status is CaseStatus.VERIFIED and case.status_reason == "referral_declined"
        moves = [e for e in _events(runtime, case) if e[0] == "case_status_changed"]
        assert moves[-1][1] == {
            "field": "status",
            "from": "referred",
            "to": "verified",
            "reason": "referral_declined",
            "referral": referral_uuid,
        }

    def test_completed_suggests_closing_but_never_closes(
        self, team: _Team, runtime: Runtime, referred: tuple[Case, str, FlaskClient]
    ) -> None:
        case, referral_uuid, partner = referred
        page = f"/referrals/{referral_uuid}"
        for status in ("accepted", "in_progress", "completed"):
            post_form(partner, f"{page}/status", {"status": status}, page=page)
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().status is ReferralStatus.COMPLETED
        [case] = _cases(runtime)
        assert case.status is CaseStatus.REFERRED
        html = team.client.get(f"/cases/{case.uuid}").text
        assert "one was completed: close the case" in html
        first_move = html.index('name="status" value="')
        assert html[first_move:].startswith('name="status" value="closed"')
        assert '<option value="referral_completed" selected>' in html


def test_declined_with_another_referral_active_keeps_referred(
    app: Flask, runtime: Runtime, team: _Team
) -> None:
    """Two referrals: the first declined by its partner leaves the case referred; the
    analyst withdrawing the second sends it back to verified."""
    admin = make_account(runtime, "admin1", Role.ADMIN)
    nurse = make_account(runtime, "nurse", Role.PARTNER)
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        clinic = partners.create_org(db, actor, "Clinic A", [partners.PartnerService.MEDICAL])
        lawyers = partners.create_org(db, actor, "Lawyers B", [partners.PartnerService.LEGAL])
        partners.add_member(db, actor, clinic.uuid, nurse.uuid)
    partner = _client(app, nurse)
    _open_case(team)
    [case] = _cases(runtime)
    record_consent(runtime, team.me.uuid, case.uuid, team.source.uuid, "refer_partner")
    refer = f"/cases/{case.uuid}/referrals"
    for org in (clinic, lawyers):
        post_form(team.client, refer, {"org": org.uuid, "source": team.source.uuid}, page=refer)
    with runtime.session() as db:
        by_org = {r.org_id: r.uuid for r in db.scalars(select(Referral))}
        first, second = by_org[clinic.id], by_org[lawyers.id]
    [case] = _cases(runtime)
    assert case.status is CaseStatus.REFERRED
    assert [h.to_status for h in case.history] == [CaseStatus.REFERRED]  # moved once
    page = f"/referrals/{first}"
    post_form(partner, f"{page}/status", {"status": "declined"}, page=page)
    assert _cases(runtime)[0].status is CaseStatus.REFERRED
    page = f"/referrals/{second}"
    post_form(team.client, f"{page}/status", {"status": "declined"}, page=page)
    [case] = _cases(runtime)
    assert case.status is CaseStatus.VERIFIED and case.status_reason == "referral_declined"
