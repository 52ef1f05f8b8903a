"""Referral to a partner organisation: only with recorded referral consent; the partner
sees only its own organisation's referrals and what they share, exchanges sealed messages with the
analysts and replies to the source if contact was consented. Every refusal is audited."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

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
from tests.support.leaks import assert_no_leak
from vault.models import AuditEvent, Case, Referral, ReferralStatus, Reply, Reviewer, Role
from vault.services import partners, referrals

MESSAGE = "REFERRAL-MARKER-91c2 bring her to the clinic on Tuesday"


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def _count(runtime: Runtime, action: str) -> int:
    with runtime.session() as db:
        return db.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


class _World:
    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.runtime = runtime
        admin = make_account(runtime, "admin1", Role.ADMIN)
        self.partner_a = make_account(runtime, "partner-a", Role.PARTNER)
        self.partner_b = make_account(runtime, "partner-b", Role.PARTNER)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
            clinic = partners.create_org(
                db, actor, "Clinic A", [partners.PartnerService.MEDICAL], "Kigali", "rw, fr"
            )
            lawyers = partners.create_org(db, actor, "Lawyers B", [partners.PartnerService.LEGAL])
            partners.add_member(db, actor, clinic.uuid, self.partner_a.uuid)
            partners.add_member(db, actor, lawyers.uuid, self.partner_b.uuid)
            self.clinic_uuid = clinic.uuid
        # Partners log in first so that they hold keys when messages are sealed.
        self.a = _client(app, self.partner_a)
        self.b = _client(app, self.partner_b)
        analyst = make_account(runtime, "analyst1")
        self.analyst_uuid = analyst.uuid
        self.analyst = _client(app, analyst)
        self.source: SubmittedSource = make_source(runtime)
        page = f"/sources/{self.source.uuid}"
        post_form(self.analyst, "/cases/new", {"source": self.source.uuid}, page=page)
        with runtime.session() as db:
            self.case = db.scalars(select(Case)).one()

    def refer(self, consent: bool, contact: bool = True) -> str:
        page = f"/cases/{self.case.uuid}/referrals"
        data = {"org": self.clinic_uuid, "source": self.source.uuid}
        if consent:  # recorded on the case, as from the workstation
            uses = ["refer_partner", *(["contact_partner"] if contact else [])]
            record_consent(self.runtime, self.analyst_uuid, self.case.uuid, self.source.uuid, *uses)
        return post_form(self.analyst, page, data, page=page).headers.get("Location", "")


@pytest.fixture
def world(app: Flask, runtime: Runtime) -> _World:
    return _World(app, runtime)


def test_no_referral_without_recorded_consent(world: _World, runtime: Runtime) -> None:
    world.refer(consent=False)
    with runtime.session() as db:
        assert db.scalars(select(Referral)).all() == []


def test_analyst_partner_source_path(world: _World, runtime: Runtime) -> None:
    location = world.refer(consent=True)
    assert "/referrals/" in location
    with runtime.session() as db:
        referral = db.scalars(select(Referral)).one()
    assert _count(runtime, "referral_consent_checked") == 1
    page = f"/referrals/{referral.uuid}"
    post_form(world.analyst, f"{page}/messages", {"text": MESSAGE}, page=page)

    # The partner of the clinic sees the referral, the case reference and the message...
    listing = world.a.get("/referrals/").get_data(as_text=True)
    assert world.case.reference in listing
    html = world.a.get(page).get_data(as_text=True)
    assert MESSAGE in html
    # ...but nothing the referral does not share: no designation, no files.
    assert world.source.designation not in html
    assert world.source.message_filename not in html
    post_form(world.a, f"{page}/status", {"status": "accepted"}, page=page)
    post_form(world.a, f"{page}/messages", {"text": "received"}, page=page)
    assert "received" in world.analyst.get(page).get_data(as_text=True)
    reply = post_form(world.a, f"{page}/reply", {"message": "we can see you"}, page=page)
    assert reply.status_code == 302
    with runtime.session() as db:
        assert db.scalars(select(Referral)).one().status is ReferralStatus.ACCEPTED
        assert len(db.scalars(select(Reply)).all()) == 1
    assert_no_leak(
        MESSAGE,
        files=[runtime.config.instance_dir],
        engine=runtime.engine,  # rows, and for SQLite its file and WAL
        redis=runtime.redis,
    )


def test_partner_cannot_see_or_guess(world: _World, runtime: Runtime) -> None:
    """Another organisation's partner, or any partner on cases, sources, submissions."""
    world.refer(consent=True)
    with runtime.session() as db:
        referral = db.scalars(select(Referral)).one()
    src = world.source
    before = _count(runtime, "referral_access_denied") + _count(runtime, "case_access_denied")
    before_http = _count(runtime, "access_denied")
    forbidden = [
        f"/referrals/{referral.uuid}",
        "/referrals/00000000-0000-0000-0000-000000000000",
        f"/cases/{world.case.uuid}",
        f"/cases/{world.case.uuid}/notes",
    ]
    for path in forbidden:
        assert world.b.get(path).status_code == 403, path
    assert world.case.reference not in world.b.get("/referrals/").get_data(as_text=True)
    for client in (world.a, world.b):
        assert client.get(f"/sources/{src.uuid}").status_code == 403
        download = f"/sources/{src.uuid}/submissions/{src.document_uuid}/download"
        assert client.get(download).status_code == 403
    after = _count(runtime, "referral_access_denied") + _count(runtime, "case_access_denied")
    assert after - before == len(forbidden)
    assert _count(runtime, "access_denied") - before_http == 4


def test_reply_needs_contact_consent(world: _World, runtime: Runtime) -> None:
    world.refer(consent=True, contact=False)
    with runtime.session() as db:
        referral = db.scalars(select(Referral)).one()
        partner = db.scalars(select(Reviewer).where(Reviewer.username == "partner-a")).one()
        referrals.set_status(db, partner, referral.uuid, ReferralStatus.ACCEPTED)
    page = f"/referrals/{referral.uuid}"
    assert "Reply to the source" not in world.a.get(page).get_data(as_text=True)
    assert post_form(world.a, f"{page}/reply", {"message": "hi"}, page=page).status_code == 403
    with runtime.session() as db:
        assert db.scalars(select(Reply)).all() == []
