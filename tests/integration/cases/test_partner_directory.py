"""The partner directory through the pages: admins add organisations and members,
analysts read it, partners are refused; every refusal audited."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.support.journalist import Account, login, make_account, post_form
from vault.models import AuditEvent, PartnerMember, PartnerOrg, Role
from vault.services import partners


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def test_directory(app: Flask, runtime: Runtime) -> None:
    admin = _client(app, make_account(runtime, "admin1", Role.ADMIN))
    analyst = _client(app, make_account(runtime, "analyst1"))
    nurse = make_account(runtime, "nurse1", Role.PARTNER)
    partner = _client(app, nurse)
    data = {"name": "Clinic", "services": "medical", "regions": "Kivu", "languages": "sw"}
    post_form(admin, "/partners/new", data, page="/partners/")
    with runtime.session() as db:
        org = db.scalars(select(PartnerOrg)).one()
        details = partners.org_details(db, org)
    assert (org.services, details.regions, details.languages) == ("medical", "Kivu", "sw")
    post_form(
        admin, "/partners/members", {"org": org.uuid, "account": nurse.uuid}, page="/partners/"
    )
    with runtime.session() as db:
        assert db.scalars(select(PartnerMember)).one().org_id == org.id
    assert "Clinic" in analyst.get("/partners/").get_data(as_text=True)
    # An analyst cannot add an organisation; a partner cannot even read the directory.
    post_form(analyst, "/partners/new", {**data, "name": "Other"}, page="/partners/")
    assert partner.get("/partners/").status_code == 403
    with runtime.session() as db:
        assert db.scalar(select(func.count()).select_from(PartnerOrg)) == 1
        denied = {
            a
            for a in db.scalars(select(AuditEvent.action))
            if a in ("admin_access_denied", "partner_directory_denied")
        }
    assert denied == {"admin_access_denied", "partner_directory_denied"}
