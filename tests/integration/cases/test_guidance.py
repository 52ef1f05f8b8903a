"""Legal guidance through the real reviewer app: a partner of a legal organisation asks
about a case referred to it, a WWoW legal adviser answers; both sealed like notes (to the
advisers, the organisation's members and the submission key), audited, never in clear on
the server. Nobody else asks, reads or answers, and every refusal is audited."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from composition.runtime import Runtime
from tests.support.consent import record_consent
from tests.support.journalist import Account, login, make_account, make_source, post_form
from tests.support.leaks import assert_no_leak
from vault.models import (
    AccountKey,
    AuditEvent,
    Case,
    GuidanceAnswer,
    GuidanceQuestion,
    Referral,
    Reviewer,
    Role,
)
from vault.services import partners

QUESTION = "GUIDANCE-Q-5d1e may we file the medical certificate in Bukavu?"
ANSWER = "GUIDANCE-A-83b0 yes, once the consent to court is recorded"


def _client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    assert login(client, account).status_code == 302
    return client


def _count(runtime: Runtime, action: str) -> int:
    with runtime.session() as db:
        return db.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def _fingerprint(runtime: Runtime, account: Account) -> str:
    with runtime.session() as db:
        key = db.scalars(
            select(AccountKey.fingerprint)
            .join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
            .where(Reviewer.uuid == account.uuid)
        ).one()
        return key.upper()


class _World:
    """A case referred to a legal organisation and to a clinic; an adviser named by an
    admin through the admin page; partners of both and of another legal organisation."""

    def __init__(self, app: Flask, runtime: Runtime) -> None:
        self.runtime = runtime
        admin = make_account(runtime, "admin1", Role.ADMIN)
        self.lawyer = make_account(runtime, "lawyer-b", Role.PARTNER)
        self.other_lawyer = make_account(runtime, "lawyer-c", Role.PARTNER)
        self.medic = make_account(runtime, "medic-a", Role.PARTNER)
        self.adviser_account = make_account(runtime, "adviser1")
        self.analyst_account = make_account(runtime, "analyst1")
        with runtime.session() as db:
            actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
            clinic = partners.create_org(db, actor, "Clinic A", [partners.PartnerService.MEDICAL])
            lawyers = partners.create_org(db, actor, "Lawyers B", [partners.PartnerService.LEGAL])
            others = partners.create_org(db, actor, "Lawyers C", [partners.PartnerService.LEGAL])
            partners.add_member(db, actor, clinic.uuid, self.medic.uuid)
            partners.add_member(db, actor, lawyers.uuid, self.lawyer.uuid)
            partners.add_member(db, actor, others.uuid, self.other_lawyer.uuid)
            orgs = (lawyers.uuid, clinic.uuid)
        # Everyone logs in first, so that each holds a key when things are sealed.
        self.admin = _client(app, admin)
        self.b = _client(app, self.lawyer)
        self.c = _client(app, self.other_lawyer)
        self.a = _client(app, self.medic)
        self.adviser = _client(app, self.adviser_account)
        self.analyst = _client(app, self.analyst_account)
        page = f"/admin/reviewers/{self.adviser_account.uuid}"
        named = post_form(self.admin, f"{page}/legal-adviser", {"adviser": "1"}, page=page)
        assert named.status_code == 302
        self.source = make_source(runtime)
        source_page = f"/sources/{self.source.uuid}"
        post_form(self.analyst, "/cases/new", {"source": self.source.uuid}, page=source_page)
        with runtime.session() as db:
            self.case = db.scalars(select(Case)).one()
        record_consent(
            runtime, self.analyst_account.uuid, self.case.uuid, self.source.uuid, "refer_partner"
        )
        refer = f"/cases/{self.case.uuid}/referrals"
        for org in orgs:
            data = {"org": org, "source": self.source.uuid}
            assert post_form(self.analyst, refer, data, page=refer).status_code == 302
        with runtime.session() as db:
            found = {r.org.name: r.uuid for r in db.scalars(select(Referral))}
        self.legal_referral, self.clinic_referral = found["Lawyers B"], found["Clinic A"]

    def ask(self, client: FlaskClient, referral_uuid: str, text: str = QUESTION) -> int:
        # The token from a page everyone reaches: a refused GET would be audited too.
        page = f"/referrals/{referral_uuid}/guidance"
        return post_form(client, page, {"text": text}, page="/guide/").status_code


@pytest.fixture
def world(app: Flask, runtime: Runtime) -> _World:
    return _World(app, runtime)


def test_question_and_answer_sealed_and_audited(world: _World, runtime: Runtime) -> None:
    referral_page = f"/referrals/{world.legal_referral}"
    assert "Legal guidance" in world.b.get(referral_page).get_data(as_text=True)
    assert world.ask(world.b, world.legal_referral) == 302
    assert QUESTION in world.b.get(f"{referral_page}/guidance").get_data(as_text=True)

    with runtime.session() as db:
        question = db.scalars(select(GuidanceQuestion)).one()
        assert question.answered_at is None
        sealed_to = set((question.recipients or "").split(","))
    # The adviser, the organisation's member and the submission key; no other analyst.
    assert _fingerprint(runtime, world.adviser_account) in sealed_to
    assert _fingerprint(runtime, world.lawyer) in sealed_to
    assert runtime.submission_fingerprint.upper() in sealed_to
    assert _fingerprint(runtime, world.analyst_account) not in sealed_to
    assert _fingerprint(runtime, world.other_lawyer) not in sealed_to

    # The adviser sees it pending, reads it, answers; the partner reads the answer.
    listing = world.adviser.get("/guidance/questions").get_data(as_text=True)
    assert world.case.reference in listing
    assert "Legal questions" in world.adviser.get("/").get_data(as_text=True)
    thread = f"{referral_page}/guidance"
    assert QUESTION in world.adviser.get(thread).get_data(as_text=True)
    answered = post_form(
        world.adviser,
        f"/guidance/questions/{question.uuid}/answer",
        {"text": ANSWER},
        page=thread,
    )
    assert answered.status_code == 302
    assert answered.headers["Location"].endswith(thread)
    assert ANSWER in world.b.get(thread).get_data(as_text=True)
    with runtime.session() as db:
        assert db.scalars(select(GuidanceQuestion)).one().answered_at is not None
        assert len(db.scalars(select(GuidanceAnswer)).all()) == 1
    pending = world.adviser.get("/guidance/questions").get_data(as_text=True)
    assert "No question is waiting." in pending

    assert _count(runtime, "referral_guidance_asked") == 1
    assert _count(runtime, "referral_guidance_answered") == 1
    assert _count(runtime, "referral_guidance_viewed") >= 3
    assert _count(runtime, "referral_guidance_listed") == 2
    assert _count(runtime, "reviewer_legal_adviser_named") == 1
    assert_no_leak(
        (QUESTION, ANSWER),
        files=[runtime.config.instance_dir],
        engine=runtime.engine,  # rows, and for SQLite its file and WAL
        redis=runtime.redis,
    )


def test_no_question_on_a_case_not_referred_to_you(world: _World, runtime: Runtime) -> None:
    """A legal partner asks only on its organisation's referral; a partner of another
    service, another legal organisation, or an analyst who is no adviser, never."""
    before = _count(runtime, "referral_access_denied") + _count(runtime, "referral_guidance_denied")
    # Lawyers B on the clinic's referral of the same case: not referred to them.
    assert world.ask(world.b, world.clinic_referral) == 403
    # Lawyers C: a legal organisation, but the case was never referred to it.
    assert world.ask(world.c, world.legal_referral) == 403
    # The clinic: referred, but not a legal organisation.
    assert world.ask(world.a, world.clinic_referral) == 403
    # An analyst who is no legal adviser neither asks nor reads.
    assert world.ask(world.analyst, world.legal_referral) == 403
    for client in (world.c, world.a, world.analyst):
        assert client.get(f"/referrals/{world.legal_referral}/guidance").status_code == 403
    assert world.analyst.get("/guidance/questions").status_code == 403
    assert world.b.get("/guidance/questions").status_code == 403
    after = _count(runtime, "referral_access_denied") + _count(runtime, "referral_guidance_denied")
    assert after - before == 9  # four questions, three readings, two lists
    with runtime.session() as db:
        assert db.scalars(select(GuidanceQuestion)).all() == []
    # No link where there is nothing to open.
    clinic_page = world.a.get(f"/referrals/{world.clinic_referral}").get_data(as_text=True)
    assert "Legal guidance" not in clinic_page


def test_only_advisers_answer(world: _World, runtime: Runtime) -> None:
    assert world.ask(world.b, world.legal_referral) == 302
    with runtime.session() as db:
        question = db.scalars(select(GuidanceQuestion)).one()
    thread = f"/referrals/{world.legal_referral}/guidance"
    path = f"/guidance/questions/{question.uuid}/answer"
    # The partner who asked, and an analyst who is no adviser, cannot answer.
    assert post_form(world.b, path, {"text": ANSWER}, page=thread).status_code == 403
    assert post_form(world.analyst, path, {"text": ANSWER}, page="/").status_code == 403
    with runtime.session() as db:
        assert db.scalars(select(GuidanceAnswer)).all() == []


def test_partners_are_never_advisers(world: _World, runtime: Runtime) -> None:
    page = f"/admin/reviewers/{world.lawyer.uuid}"
    post_form(world.admin, f"{page}/legal-adviser", {"adviser": "1"}, page=page)
    with runtime.session() as db:
        lawyer = db.scalars(select(Reviewer).where(Reviewer.uuid == world.lawyer.uuid)).one()
        assert not lawyer.legal_adviser
    # And an adviser withdrawn no longer sees the questions.
    page = f"/admin/reviewers/{world.adviser_account.uuid}"
    post_form(world.admin, f"{page}/legal-adviser", {"adviser": "0"}, page=page)
    assert world.adviser.get("/guidance/questions").status_code == 403
    assert _count(runtime, "reviewer_legal_adviser_withdrawn") == 1


def test_an_adviser_named_later_reads_after_a_readers_login(
    world: _World, app: Flask, runtime: Runtime
) -> None:
    """Sealed to the advisers of the moment: a new adviser reads the question once a
    reader who can open it logs in (or opens the thread), re-sealed and audited."""
    assert world.ask(world.b, world.legal_referral) == 302
    newcomer = make_account(runtime, "adviser2")
    client = _client(app, newcomer)  # holds a key from now on
    page = f"/admin/reviewers/{newcomer.uuid}"
    post_form(world.admin, f"{page}/legal-adviser", {"adviser": "1"}, page=page)
    thread = f"/referrals/{world.legal_referral}/guidance"
    before = client.get(thread).get_data(as_text=True)
    assert QUESTION not in before and "not encrypted to your key" in before

    # The partner who asked logs in again (the next TOTP step: the last one is spent),
    # and its login's batch re-seals.
    again = app.test_client()
    assert login(again, world.lawyer, code=world.lawyer.code(1)).status_code == 302
    assert _count(runtime, "referral_guidance_resealed") == 1
    with runtime.session() as db:
        sealed_to = db.scalars(select(GuidanceQuestion)).one().recipients or ""
    assert _fingerprint(runtime, newcomer) in sealed_to.split(",")
    assert QUESTION in client.get(thread).get_data(as_text=True)
