"""After a referral: the analyst sees, without content, that the partner accepted, wrote
and answered the source; the partner writes to a source who consented to be contacted,
the source reads it as the partner organisation's and answers through the normal
message path. Both apps on one real runtime (gpg, Redis, SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition.runtime import Runtime
from source_app import create_app as create_source_app
from tests.integration.source_app.helpers import SourceBrowser
from tests.support.consent import record_consent
from tests.support.journalist import (
    Account,
    create_through_admin,
    login,
    make_account,
    post_form,
)
from tests.support.leaks import assert_no_leak
from vault.config import Config
from vault.models import (
    Case,
    PartnerService,
    Referral,
    ReferralStatus,
    Reply,
    Reviewer,
    Role,
    Source,
    Submission,
)
from vault.services import case_edits, partners

PARTNER_NOTE = "PARTNER-MARKER-2b8f we can see her on Tuesday at 9"
TO_SOURCE = "SOURCE-REPLY-MARKER-51aa come to the clinic on Tuesday morning"
ANSWER = "ANSWER-MARKER-e07c yes I will come, thank you"


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def _activity(html: str) -> str:
    """The dashboard's partner-activity block."""
    match = re.search(r'<div class="partner-activity">(.*?)</div>', html, re.S)
    assert match, "no partner activity block"
    return match.group(1)


class _World:
    def __init__(self, app: Flask, runtime: Runtime, config: Config) -> None:
        self.runtime = runtime
        self.source = SourceBrowser(create_source_app(config, runtime).test_client())
        self.codename = self.source.start("I need a doctor")
        self.admin = _client(app, make_account(runtime, "admin1", Role.ADMIN))
        self.analyst_account = make_account(runtime, "analyst1")
        self.analyst = _client(app, self.analyst_account)
        self.other = _client(app, make_account(runtime, "analyst2"))
        nurse = create_through_admin(self.admin, "clinic-nurse", Role.PARTNER)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.username == "admin1")).one()
            clinic = partners.create_org(db, actor, "Clinic A", [PartnerService.MEDICAL])
            self.clinic_uuid = clinic.uuid
            self.source_uuid = db.scalars(select(Source.uuid)).one()
        post_form(
            self.admin,
            "/partners/members",
            {"org": self.clinic_uuid, "account": nurse.uuid},
            page="/partners/",
        )
        self.partner = _client(app, nurse)
        page = f"/sources/{self.source_uuid}"
        post_form(self.analyst, "/cases/new", {"source": self.source_uuid}, page=page)
        with runtime.session() as db:
            self.case = db.scalars(select(Case)).one()

    def record(self, *yes: str) -> None:
        record_consent(  # as from the workstation, on the case page
            self.runtime, self.analyst_account.uuid, self.case.uuid, self.source_uuid, *yes
        )

    def refer(self, contact: bool = True) -> str:
        self.record("refer_partner", *(["contact_partner"] if contact else []))
        page = f"/cases/{self.case.uuid}/referrals"
        data = {"org": self.clinic_uuid, "source": self.source_uuid}
        post_form(self.analyst, page, data, page=page)
        with self.runtime.session() as db:
            return db.scalars(select(Referral.uuid)).one()


@pytest.fixture
def world(app: Flask, runtime: Runtime, config: Config) -> _World:
    return _World(app, runtime, config)


def test_dashboard_shows_partner_activity_without_content(world: _World, runtime: Runtime) -> None:
    referral_uuid = world.refer()
    page = f"/referrals/{referral_uuid}"
    assert "Nothing new from partners." in world.analyst.get("/dashboard/").get_data(as_text=True)

    post_form(world.partner, f"{page}/status", {"status": "accepted"}, page=page)
    post_form(world.partner, f"{page}/messages", {"text": PARTNER_NOTE}, page=page)
    post_form(world.partner, f"{page}/reply", {"message": TO_SOURCE}, page=page)

    dashboard = world.analyst.get("/dashboard/").get_data(as_text=True)
    block = _activity(dashboard)
    assert f'data-referral="{referral_uuid}"' in block
    assert world.case.reference in block
    assert "Clinic A" in block
    assert '<span class="badge referral referral-accepted">Accepted</span>' in block
    assert "status changed" in block
    assert "1 new partner message" in block
    assert "the partner wrote to the source (1)" in block
    for secret in (PARTNER_NOTE, TO_SOURCE):
        assert secret not in dashboard

    # The case's pages say so too.
    case_page = world.analyst.get(f"/cases/{world.case.uuid}").get_data(as_text=True)
    assert "(1 referral with news from the partner)" in case_page
    referrals_page = world.analyst.get(f"/cases/{world.case.uuid}/referrals")
    assert "1 new partner message" in referrals_page.get_data(as_text=True)

    # Not this analyst's referral (made by another, case not assigned): nothing shown...
    other = world.other.get("/dashboard/").get_data(as_text=True)
    assert "Nothing new from partners." in other
    # ...until the case is assigned to them.
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.username == "analyst1")).one()
        other_uuid = db.scalars(select(Reviewer.uuid).where(Reviewer.username == "analyst2")).one()
        case_edits.assign(db, actor, world.case.uuid, other_uuid)
    assert referral_uuid in _activity(world.other.get("/dashboard/").get_data(as_text=True))

    # Opening the referral is seeing it: nothing new any more, until the partner acts.
    assert PARTNER_NOTE in world.analyst.get(page).get_data(as_text=True)
    assert "Nothing new from partners." in world.analyst.get("/dashboard/").get_data(as_text=True)
    post_form(world.partner, f"{page}/status", {"status": "in_progress"}, page=page)
    block = _activity(world.analyst.get("/dashboard/").get_data(as_text=True))
    assert '<span class="badge referral referral-in_progress">In progress</span>' in block
    assert "status changed" in block
    assert "new partner message" not in block


def test_partner_writes_to_source_who_answers(world: _World, runtime: Runtime) -> None:
    referral_uuid = world.refer(contact=True)
    page = f"/referrals/{referral_uuid}"
    post_form(world.partner, f"{page}/status", {"status": "accepted"}, page=page)
    sent = post_form(world.partner, f"{page}/reply", {"message": TO_SOURCE}, page=page)
    assert sent.status_code == 302
    with runtime.session() as db:
        reply = db.scalars(select(Reply)).one()
        referral = db.scalars(select(Referral)).one()
        assert reply.referral_id == referral.id
        partner_id = db.scalars(select(Reviewer.id).where(Reviewer.username == "clinic-nurse"))
        assert reply.reviewer_id == partner_id.one()
        before = db.scalar(select(func.count(Submission.id))) or 0

    # The source logs in again and reads it as the organisation's.
    source = world.source
    source.logout()
    assert source.login(world.codename).status_code == 302
    lookup = source.client.get("/lookup").get_data(as_text=True)
    assert TO_SOURCE in lookup
    assert "From Clinic A, a partner organisation of WWoW." in lookup
    # The answer goes the normal way: sealed to the submission key, for the team.
    assert source.submit(ANSWER).status_code == 302
    with runtime.session() as db:
        assert (db.scalar(select(func.count(Submission.id))) or 0) == before + 1

    assert_no_leak(
        (TO_SOURCE, ANSWER),
        files=[runtime.config.instance_dir],
        engine=runtime.engine,
        redis=runtime.redis,
    )


def test_only_partner_writes_and_only_with_contact_consent(world: _World, runtime: Runtime) -> None:
    referral_uuid = world.refer(contact=False)
    page = f"/referrals/{referral_uuid}"
    post_form(world.partner, f"{page}/status", {"status": "accepted"}, page=page)
    assert "Reply to the source" not in world.partner.get(page).get_data(as_text=True)
    refused = post_form(world.partner, f"{page}/reply", {"message": TO_SOURCE}, page=page)
    assert refused.status_code == 403
    # An analyst answers through the inbox, never as the partner.
    refused = post_form(world.analyst, f"{page}/reply", {"message": TO_SOURCE}, page=page)
    assert refused.status_code == 403
    with runtime.session() as db:
        assert db.scalars(select(Reply)).all() == []
        assert db.scalars(select(Referral)).one().status is ReferralStatus.ACCEPTED


def test_a_withdrawn_contact_consent_ends_the_partners_replies(
    world: _World, runtime: Runtime
) -> None:
    referral_uuid = world.refer(contact=True)
    page = f"/referrals/{referral_uuid}"
    post_form(world.partner, f"{page}/status", {"status": "accepted"}, page=page)
    assert "Reply to the source" in world.partner.get(page).get_data(as_text=True)
    # The source's latest consent, recorded after the referral, says no to contact.
    world.record("refer_partner")
    assert "Reply to the source" not in world.partner.get(page).get_data(as_text=True)
    refused = post_form(world.partner, f"{page}/reply", {"message": TO_SOURCE}, page=page)
    assert refused.status_code == 403
    with runtime.session() as db:
        assert db.scalars(select(Reply)).all() == []
