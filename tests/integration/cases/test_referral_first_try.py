"""A referral works on the first try: an account made by an admin holds its key at once,
so a partner reads an urgent referral written before their first login; a passphrase
reset or a new membership re-seals what was written before; only the partner accepts.
Real gpg, SQLite and PostgreSQL, Redis, the reviewer app with CSRF on."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.support.consent import record_consent
from tests.support.journalist import (
    Account,
    SubmittedSource,
    create_through_admin,
    credentials_shown,
    login,
    make_account,
    make_source,
    post_form,
)
from tests.support.leaks import assert_no_leak
from vault.models import (
    AccountKey,
    AuditEvent,
    Case,
    PartnerService,
    Referral,
    ReferralMessage,
    ReferralStatus,
    Reviewer,
    Role,
)
from vault.services import notes, partners, referrals
from vault.services.audit_log import RefusalRecordedError

URGENT = "URGENT-MARKER-7d1e she was raped yesterday, needs PEP today"
UNREADABLE = "not encrypted to your key"


def _count(runtime: Runtime, action: str) -> int:
    with runtime.session() as db:
        return db.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def _reviewer(runtime: Runtime, username: str) -> Reviewer:
    with runtime.session() as db:
        found = db.scalars(select(Reviewer).where(Reviewer.username == username)).one()
        db.expunge(found)
        return found


def _key(runtime: Runtime, username: str) -> AccountKey | None:
    with runtime.session() as db:
        reviewer = db.scalars(select(Reviewer).where(Reviewer.username == username)).one()
        key = db.get(AccountKey, reviewer.id)
        if key is not None:
            db.expunge(key)
        return key


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


class _World:
    """An admin and an analyst logged in, one clinic, a case made from a source."""

    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.admin = _client(app, make_account(runtime, "admin1", Role.ADMIN))
        self.analyst_account = make_account(runtime, "analyst1")
        self.analyst = _client(app, self.analyst_account)
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.username == "admin1")).one()
            clinic = partners.create_org(db, actor, "Clinic A", [PartnerService.MEDICAL])
            self.clinic_uuid = clinic.uuid
        self.source: SubmittedSource = make_source(runtime)
        page = f"/sources/{self.source.uuid}"
        post_form(self.analyst, "/cases/new", {"source": self.source.uuid}, page=page)
        with runtime.session() as db:
            self.case = db.scalars(select(Case)).one()

    def add_member(self, account: Account) -> None:
        post_form(
            self.admin,
            "/partners/members",
            {"org": self.clinic_uuid, "account": account.uuid},
            page="/partners/",
        )

    def refer(self, contact: bool = True) -> str:
        record_consent(  # as from the workstation, on the case page
            self.runtime,
            self.analyst_account.uuid,
            self.case.uuid,
            self.source.uuid,
            "refer_partner",
            *(["contact_partner"] if contact else []),
        )
        page = f"/cases/{self.case.uuid}/referrals"
        data = {"org": self.clinic_uuid, "source": self.source.uuid}
        post_form(self.analyst, page, data, page=page)
        with self.runtime.session() as db:
            return db.scalars(select(Referral.uuid)).one()

    def message(self, client: FlaskClient, referral_uuid: str, text: str) -> None:
        page = f"/referrals/{referral_uuid}"
        post_form(client, f"{page}/messages", {"text": text}, page=page)


@pytest.fixture
def world(app: Flask, runtime: Runtime) -> _World:
    return _World(app, runtime)


class TestKeyAtCreation:
    """The account's key exists from the admin's creation on, for every role."""

    def test_partner_reads_urgent_referral_written_before_first_login(
        self, world: _World, runtime: Runtime, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        nurse = create_through_admin(world.admin, "clinic-nurse", Role.PARTNER)
        key = _key(runtime, "clinic-nurse")
        assert key is not None  # before any login
        assert _reviewer(runtime, "clinic-nurse").last_totp_step == 0  # never logged in
        world.add_member(nurse)
        referral_uuid = world.refer()
        world.message(world.analyst, referral_uuid, URGENT)

        partner = _client(world.app, nurse)  # the first login ever
        page = partner.get(f"/referrals/{referral_uuid}").get_data(as_text=True)
        assert URGENT in page
        assert UNREADABLE not in page
        after = _key(runtime, "clinic-nurse")
        assert after is not None and after.fingerprint == key.fingerprint  # unlocked, not remade
        with runtime.session() as db:
            created = db.scalars(
                select(AuditEvent).where(AuditEvent.action == "account_key_created")
            ).all()
            admin = db.scalars(select(Reviewer).where(Reviewer.username == "admin1")).one()
        nurse_events = [e for e in created if e.object_uuid == nurse.uuid]
        assert [e.actor_uuid for e in nurse_events] == [admin.uuid]

        # Neither the login passphrase nor the key passphrase derived from it persist.
        derived = notes.key_passphrase(key.salt, nurse.passphrase)
        assert_no_leak(
            (URGENT, nurse.passphrase, derived),
            files=[runtime.config.instance_dir],
            engine=runtime.engine,
            redis=runtime.redis,
        )
        assert derived not in caplog.text
        assert nurse.passphrase not in caplog.text

    @pytest.mark.parametrize("role", [Role.ANALYST, Role.ADMIN])
    def test_every_role_gets_its_key(self, world: _World, runtime: Runtime, role: Role) -> None:
        create_through_admin(world.admin, "new-reviewer", role)
        assert _key(runtime, "new-reviewer") is not None

    def test_account_made_before_gets_its_key_at_first_login(
        self, world: _World, runtime: Runtime
    ) -> None:
        """Accounts created before keys were made at creation: the key at first login."""
        legacy = make_account(runtime, "legacy-partner", Role.PARTNER)
        assert _key(runtime, "legacy-partner") is None
        world.add_member(legacy)
        referral_uuid = world.refer()
        world.message(world.analyst, referral_uuid, URGENT)
        partner = _client(world.app, legacy)
        assert _key(runtime, "legacy-partner") is not None
        # Written before its key existed: unreadable until a reader re-seals it...
        assert UNREADABLE in partner.get(f"/referrals/{referral_uuid}").get_data(as_text=True)
        world.analyst.get(f"/referrals/{referral_uuid}")  # ...which the analyst's read does.
        assert URGENT in partner.get(f"/referrals/{referral_uuid}").get_data(as_text=True)


class TestResealedAtOnce:
    def test_member_added_later_reads_earlier_messages(
        self, world: _World, runtime: Runtime
    ) -> None:
        """The admin's session re-seals the organisation's messages when adding a member."""
        nurse = create_through_admin(world.admin, "clinic-nurse", Role.PARTNER)
        referral_uuid = world.refer()
        world.message(world.analyst, referral_uuid, URGENT)
        world.add_member(nurse)  # after the message was sealed
        fingerprint = _key(runtime, "clinic-nurse")
        assert fingerprint is not None
        with runtime.session() as db:
            message = db.scalars(select(ReferralMessage)).one()
            assert fingerprint.fingerprint in (message.recipients or "")
        page = _client(world.app, nurse).get(f"/referrals/{referral_uuid}")
        assert URGENT in page.get_data(as_text=True)

    def test_reset_passphrase_makes_a_new_key_that_reads_at_once(
        self, world: _World, runtime: Runtime
    ) -> None:
        nurse = create_through_admin(world.admin, "clinic-nurse", Role.PARTNER)
        world.add_member(nurse)
        referral_uuid = world.refer()
        world.message(world.analyst, referral_uuid, URGENT)
        old = _key(runtime, "clinic-nurse")
        assert old is not None

        page = post_form(
            world.admin,
            f"/admin/reviewers/{nurse.uuid}/reset-passphrase",
            page=f"/admin/reviewers/{nurse.uuid}",
        ).get_data(as_text=True)
        passphrase, _ = credentials_shown(page)
        assert passphrase
        new = _key(runtime, "clinic-nurse")
        assert new is not None and new.fingerprint != old.fingerprint
        assert not runtime.keyring.has_secret_key(old.fingerprint)
        with runtime.session() as db:
            message = db.scalars(select(ReferralMessage)).one()
            assert new.fingerprint in (message.recipients or "")
            assert old.fingerprint not in (message.recipients or "")
        renewed = Account(nurse.uuid, nurse.username, passphrase, nurse.otp_secret)
        partner = _client(world.app, renewed)
        assert URGENT in partner.get(f"/referrals/{referral_uuid}").get_data(as_text=True)
        after = _key(runtime, "clinic-nurse")
        assert after is not None and after.fingerprint == new.fingerprint
        assert_no_leak(
            (passphrase, notes.key_passphrase(new.salt, passphrase)),
            files=[runtime.config.instance_dir],
            engine=runtime.engine,
            redis=runtime.redis,
        )


class TestOnlyThePartnerAccepts:
    """Analysts and admins may withdraw (decline) a referral, never accept, start or
    complete it for the partner: refused in the service, audited, on every path."""

    @pytest.fixture
    def referral_uuid(self, world: _World) -> str:
        return world.refer()

    @pytest.mark.parametrize("username", ["analyst1", "admin1"])
    @pytest.mark.parametrize(
        "target", [ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED]
    )
    def test_service_refuses_and_audits(
        self, runtime: Runtime, referral_uuid: str, username: str, target: ReferralStatus
    ) -> None:
        before = _count(runtime, "referral_status_denied")
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.username == username)).one()
            with pytest.raises(RefusalRecordedError):
                referrals.set_status(db, actor, referral_uuid, target)
        assert _count(runtime, "referral_status_denied") == before + 1
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().status is ReferralStatus.PROPOSED

    def test_web_path_refused_and_no_button(
        self, world: _World, runtime: Runtime, referral_uuid: str
    ) -> None:
        page = f"/referrals/{referral_uuid}"
        html = world.analyst.get(page).get_data(as_text=True)
        assert "Mark as Accepted" not in html
        assert "Mark as Declined" in html
        response = post_form(world.analyst, f"{page}/status", {"status": "accepted"}, page=page)
        assert response.status_code == 403
        assert _count(runtime, "referral_status_denied") == 1
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().status is ReferralStatus.PROPOSED

    def test_partner_accepts_analyst_withdraws(
        self, world: _World, runtime: Runtime, referral_uuid: str
    ) -> None:
        nurse = create_through_admin(world.admin, "clinic-nurse", Role.PARTNER)
        world.add_member(nurse)
        partner = _client(world.app, nurse)
        page = f"/referrals/{referral_uuid}"
        assert "Mark as Accepted" in partner.get(page).get_data(as_text=True)
        post_form(partner, f"{page}/status", {"status": "accepted"}, page=page)
        post_form(partner, f"{page}/status", {"status": "in_progress"}, page=page)
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().status is ReferralStatus.IN_PROGRESS
        # Completing stays the partner's; withdrawing is the analyst's right.
        refused = post_form(world.analyst, f"{page}/status", {"status": "completed"}, page=page)
        assert refused.status_code == 403
        post_form(world.analyst, f"{page}/status", {"status": "declined"}, page=page)
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().status is ReferralStatus.DECLINED
        assert _count(runtime, "referral_status_changed") == 3

    def test_analysts_page_links_the_case_partners_does_not(
        self, world: _World, runtime: Runtime, referral_uuid: str
    ) -> None:
        """The analyst goes on from the referral to its case in one click; the partner,
        who sees only what the referral shares, gets no link to a case page."""
        with runtime.session() as db:
            case = db.scalars(select(Referral)).one().case
            link = f'<a href="/cases/{case.uuid}">Open {case.reference}</a>'
        page = f"/referrals/{referral_uuid}"
        html = world.analyst.get(page).get_data(as_text=True)
        assert link in html
        assert world.analyst.get(f"/cases/{case.uuid}").status_code == 200
        nurse = create_through_admin(world.admin, "clinic-nurse", Role.PARTNER)
        world.add_member(nurse)
        shared = _client(world.app, nurse).get(page).get_data(as_text=True)
        assert case.reference in shared
        assert f"/cases/{case.uuid}" not in shared

    def test_api_has_no_referral_status_path(self, app: Flask) -> None:
        """The reviewer API exposes no referral at all: nothing to move a status there."""
        rules = [rule.rule for rule in app.url_map.iter_rules()]
        api = [rule for rule in rules if rule.startswith("/api/")]
        assert api  # the API is registered...
        assert not [rule for rule in api if "referral" in rule]  # ...without referrals
