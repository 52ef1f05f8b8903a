"""Case pages through the reviewer app (CSRF on): create from the source page, change
status, link by reference; partners and guessed uuids refused and audited."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from composition.runtime import Runtime
from tests.support.journalist import make_source, post_form
from vault.models import AuditEvent, Case, CaseStatus


def _only_case(runtime: Runtime) -> Case:
    with runtime.session() as db:
        found = db.scalars(select(Case)).all()
        assert len(found) == 1
        return found[0]


def _actions(runtime: Runtime, action: str) -> int:
    with runtime.session() as db:
        return len(db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_analyst_creates_and_works_a_case(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """From the source page to a verified, labelled case; every step audited."""
    source = make_source(runtime)
    page = f"/sources/{source.uuid}"
    assert "Create a case from this source" in analyst_client.get(page).get_data(as_text=True)
    response = post_form(
        analyst_client, "/cases/new", {"source": source.uuid, "priority": "high"}, page=page
    )
    assert response.status_code == 302
    case = _only_case(runtime)
    html = analyst_client.get(response.headers["Location"]).get_data(as_text=True)
    assert case.reference in html and source.designation in html
    assert case.reference in analyst_client.get(page).get_data(as_text=True)

    case_page = f"/cases/{case.uuid}"
    post_form(analyst_client, f"{case_page}/status", {"status": "triage"}, page=case_page)
    post_form(analyst_client, f"{case_page}/status", {"status": "verified"}, page=case_page)
    # Not a workflow move: refused, nothing changes.
    post_form(analyst_client, f"{case_page}/status", {"status": "new"}, page=case_page)
    post_form(analyst_client, f"{case_page}/labels", {"label": "medical"}, page=case_page)
    post_form(analyst_client, f"{case_page}/due", {"due": "2030-01-02"}, page=case_page)
    case = _only_case(runtime)
    assert case.status is CaseStatus.VERIFIED
    assert case.due_at is not None and case.due_at.date().isoformat() == "2030-01-02"
    assert _actions(runtime, "case_status_changed") == 2
    assert _actions(runtime, "case_label_added") == 1

    listing = analyst_client.get("/cases/?label=medical").get_data(as_text=True)
    assert case.reference in listing
    assert case.reference not in analyst_client.get("/cases/?status=closed").get_data(as_text=True)


def test_link_a_second_source_by_reference(analyst_client: FlaskClient, runtime: Runtime) -> None:
    """Two sources reporting one incident end up in the same case."""
    first, second = make_source(runtime), make_source(runtime)
    page = f"/sources/{first.uuid}"
    post_form(analyst_client, "/cases/new", {"source": first.uuid, "priority": "normal"}, page=page)
    case = _only_case(runtime)
    other = f"/sources/{second.uuid}"
    response = post_form(
        analyst_client,
        "/cases/link?kind=source",
        {"case": case.reference.lower(), "target": second.uuid},
        page=other,
    )
    assert response.status_code == 302
    html = analyst_client.get(f"/cases/{case.uuid}").get_data(as_text=True)
    assert first.designation in html and second.designation in html


def test_forms_need_csrf(analyst_client: FlaskClient, runtime: Runtime) -> None:
    source = make_source(runtime)
    response = analyst_client.post("/cases/new", data={"source": source.uuid})
    assert response.status_code == 400
    with runtime.session() as db:
        assert db.scalars(select(Case)).all() == []


def test_unknown_case_is_404(analyst_client: FlaskClient) -> None:
    assert analyst_client.get("/cases/00000000-0000-0000-0000-000000000000").status_code == 404


def test_partner_cannot_see_or_guess_cases(
    client: FlaskClient, analyst_client: FlaskClient, runtime: Runtime, partner: object
) -> None:
    """A partner gets 403 for the list, a real case's uuid and its actions; all audited."""
    source = make_source(runtime)
    page = f"/sources/{source.uuid}"
    post_form(
        analyst_client, "/cases/new", {"source": source.uuid, "priority": "normal"}, page=page
    )
    case = _only_case(runtime)
    post_form(analyst_client, "/logout", page="/")

    from tests.support.journalist import login

    assert login(client, partner).status_code == 302  # type: ignore[arg-type]
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "/cases/" not in home
    assert client.get("/cases/").status_code == 403
    assert client.get(f"/cases/{case.uuid}").status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', home)
    assert token
    response = client.post(
        f"/cases/{case.uuid}/status", data={"status": "triage", "csrf_token": token.group(1)}
    )
    assert response.status_code == 403
    assert _only_case(runtime).status is CaseStatus.NEW
    assert _actions(runtime, "case_access_denied") == 3
