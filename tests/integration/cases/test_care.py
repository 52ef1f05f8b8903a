"""The care tier end to end through both apps, real gpg, Redis, SQLite and PostgreSQL.

A source sends ASSIST through the source interface; the care copy is sealed to the right
keys (the on-duty team, else every analyst and admin, else nobody and no copy); the
on-duty reviewer's queue opens it in memory; take, answer, refer and close work in one
step each; re-sealing follows the team; escalation; deletion; nothing leaks in clear.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from composition.runtime import Runtime
from keys.gpg import GpgKeyring
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import csrf_token
from tests.support.care import MARKER, URGENT, ask, logged_in, new_source, on_duty
from tests.support.journalist import Account, login, make_account, make_source, post_form
from tests.support.leaks import assert_no_leak
from vault import jobs
from vault.models import (
    AccountKey,
    AuditEvent,
    CareRequest,
    CareStatus,
    Case,
    PartnerService,
    Referral,
    Reply,
    Reviewer,
    Role,
    Source,
    Submission,
)
from vault.models.note import canonical_recipients
from vault.services import care, care_queue, partners

CONSENTING = {**URGENT, "consent_refer_partner": "yes", "consent_handle_case": "yes"}


def _reviewer(runtime: Runtime, account: Account) -> Reviewer:
    with runtime.session() as db:
        return db.scalars(select(Reviewer).where(Reviewer.uuid == account.uuid)).one()


def _fingerprint(runtime: Runtime, account: Account) -> str:
    with runtime.session() as db:
        key = db.get(AccountKey, _reviewer(runtime, account).id)
        assert key is not None
        return key.fingerprint


def _requests(runtime: Runtime) -> list[CareRequest]:
    with runtime.session() as db:
        query = select(CareRequest).options(selectinload(CareRequest.source))
        return list(db.scalars(query.order_by(CareRequest.id)))


def _submissions(runtime: Runtime) -> int:
    with runtime.session() as db:
        return int(db.scalar(select(func.count()).select_from(Submission)) or 0)


def _events(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _named_keys(keyring: GpgKeyring, ciphertext: bytes) -> set[str]:
    return {key_id.upper() for key_id in keyring.gpg.get_recipients(ciphertext)}


def _sealed_to(runtime: Runtime, ciphertext: bytes, fingerprint: str) -> bool:
    keyring = runtime.keyring
    return bool(_named_keys(keyring, ciphertext) & keyring.key_ids(fingerprint))


class TestSealing:
    """Who a care copy is sealed to, and what the source is told before sending."""

    def test_on_duty_team_and_submission_key(
        self, app: Flask, runtime: Runtime, workstation_keyring: GpgKeyring
    ) -> None:
        duty, other, partner = (
            make_account(runtime, "duty1"),
            make_account(runtime, "other1"),
            make_account(runtime, "partner1", Role.PARTNER),
        )
        duty_client = logged_in(app, duty)
        other_client = logged_in(app, other)
        logged_in(app, partner)
        on_duty(runtime, duty)
        browser = new_source(runtime)
        browser.client.get("/language/en")
        assert "The on-duty care team of WWoW can read it" in browser.client.get("/help/form").text
        ask(browser, URGENT)

        assert _submissions(runtime) == 1  # the evidence path, as always
        (request,) = _requests(runtime)
        sub, fp_duty = runtime.submission_fingerprint, _fingerprint(runtime, duty)
        assert request.urgent and request.status is CareStatus.OPEN
        assert request.recipients == canonical_recipients([fp_duty, sub])
        assert len(_named_keys(runtime.keyring, request.ciphertext)) == 2
        assert not _sealed_to(runtime, request.ciphertext, _fingerprint(runtime, other))
        assert not _sealed_to(runtime, request.ciphertext, _fingerprint(runtime, partner))
        opened = workstation_keyring.open_bytes(request.ciphertext, SUBMISSION_PASSPHRASE)
        assert MARKER.encode() in opened and b'"language": "fr"' in opened

        html = duty_client.get("/care/").text
        assert MARKER in html and "Urgent" in html and "Medical care" in html
        assert other_client.get("/care/").status_code == 403  # not on duty, not admin
        assert [e.object_uuid for e in _events(runtime, "care_request_created")] == [request.uuid]

    def test_nobody_on_duty_falls_back_to_every_analyst_and_admin(
        self, app: Flask, runtime: Runtime
    ) -> None:
        analyst, admin = (
            make_account(runtime, "analyst1"),
            make_account(runtime, "admin1", Role.ADMIN),
        )
        analyst_client = logged_in(app, analyst)
        admin_client = logged_in(app, admin)
        browser = new_source(runtime)
        browser.client.get("/language/en")
        assert "WWoW's team can read it" in browser.client.get("/help/form").text
        ask(browser, {"needs": ["legal"], "urgency": "later", "recent": "no"})
        (request,) = _requests(runtime)
        assert not request.urgent
        assert request.recipients == canonical_recipients(
            [
                _fingerprint(runtime, analyst),
                _fingerprint(runtime, admin),
                runtime.submission_fingerprint,
            ]
        )
        assert MARKER in admin_client.get("/care/").text  # admins see the queue
        # Sealed to every analyst while nobody is on duty: so the queue is theirs too.
        assert 'href="/care/"' in analyst_client.get("/").text
        assert MARKER in analyst_client.get("/care/").text
        on_duty(runtime, admin)
        assert 'href="/care/"' not in analyst_client.get("/").text
        assert analyst_client.get("/care/").status_code == 403

    def test_nobody_holds_a_key_no_care_copy(self, runtime: Runtime) -> None:
        make_account(runtime, "never-logged-in")  # no key until a first login
        browser = new_source(runtime)
        browser.client.get("/language/en")
        form = browser.client.get("/help/form").text
        assert "Right now nobody can read help requests online" in form
        assert 'name="care_path"' not in form
        page = ask(browser, URGENT, lang="en")
        assert _requests(runtime) == [] and _submissions(runtime) == 1
        assert "Nobody in the care team can read requests online right now" in page

    def test_evidence_path_only(self, app: Flask, runtime: Runtime) -> None:
        logged_in(app, make_account(runtime, "analyst1"))
        browser = new_source(runtime)
        ask(browser, {**URGENT, "care_path": "evidence"})
        assert _requests(runtime) == [] and _submissions(runtime) == 1

    def test_a_forged_choice_is_refused(self, app: Flask, runtime: Runtime) -> None:
        logged_in(app, make_account(runtime, "analyst1"))
        browser = new_source(runtime)
        page = browser.client.get("/help/form").text
        response = browser.client.post(
            "/help/form", data={"csrf_token": csrf_token(page), "care_path": "everyone"}
        )
        assert response.status_code == 400
        assert _requests(runtime) == [] and _submissions(runtime) == 0


class TestResealing:
    """The care copy follows the team: at a reader's login and when a reader opens the queue."""

    def test_team_changes(self, app: Flask, runtime: Runtime) -> None:
        first, second = make_account(runtime, "duty1"), make_account(runtime, "duty2")
        a = logged_in(app, first)
        b = logged_in(app, second)
        on_duty(runtime, first)
        ask(new_source(runtime), URGENT)
        sub = runtime.submission_fingerprint
        fp_a, fp_b = _fingerprint(runtime, first), _fingerprint(runtime, second)
        assert _requests(runtime)[0].recipients == canonical_recipients([fp_a, sub])

        # The second analyst joins the team: not sealed to them until a reader acts.
        on_duty(runtime, second)
        html = b.get("/care/").text
        assert MARKER not in html and "Not sealed to your key." in html
        logged_in(app, first, step=1)  # the reader's login re-seals
        (request,) = _requests(runtime)
        assert request.recipients == canonical_recipients([fp_a, fp_b, sub])
        assert _sealed_to(runtime, request.ciphertext, fp_b)
        assert MARKER in b.get("/care/").text

        # The first leaves the team: the next reader's view of the queue drops them.
        on_duty(runtime, first, False)
        assert MARKER in b.get("/care/").text
        (request,) = _requests(runtime)
        assert request.recipients == canonical_recipients([fp_b, sub])
        assert not _sealed_to(runtime, request.ciphertext, fp_a)
        assert a.get("/care/").status_code == 403  # off duty, not an admin
        resealed = _events(runtime, "care_request_resealed")
        assert [(e.object_type, e.object_uuid) for e in resealed] == [
            ("care_request", request.uuid)
        ] * 2

    def test_closed_requests_are_not_resealed(self, app: Flask, runtime: Runtime) -> None:
        first, second = make_account(runtime, "duty1"), make_account(runtime, "duty2")
        a = logged_in(app, first)
        logged_in(app, second)
        on_duty(runtime, first)
        ask(new_source(runtime), URGENT)
        (request,) = _requests(runtime)
        post_form(a, f"/care/{request.uuid}/close", page=f"/care/{request.uuid}")
        on_duty(runtime, second)
        logged_in(app, first, step=1)
        assert _requests(runtime)[0].ciphertext == request.ciphertext
        assert _events(runtime, "care_request_resealed") == []


class TestQueue:
    def test_urgent_first_then_oldest(self, app: Flask, runtime: Runtime) -> None:
        duty = make_account(runtime, "duty1")
        client = logged_in(app, duty)
        on_duty(runtime, duty)
        answers = [
            ("LATER-OLD", {"needs": ["legal"], "urgency": "later", "recent": "no"}, 90),
            ("URGENT-NEW", {"urgency": "this_week", "recent": "unsure"}, 5),
            ("URGENT-OLD", {"urgency": "today", "recent": "no"}, 60),
        ]
        now = dt.datetime.now(dt.UTC)
        for label, fields, minutes in answers:
            ask(new_source(runtime), {**fields, "contact_details": label})
            with runtime.session() as db:
                newest = db.scalars(select(CareRequest).order_by(CareRequest.id.desc())).first()
                assert newest is not None
                newest.created_at = now - dt.timedelta(minutes=minutes)
                db.commit()
        html = client.get("/care/").text
        shown = re.findall(r"(LATER-OLD|URGENT-NEW|URGENT-OLD)", html)
        assert shown == ["URGENT-OLD", "URGENT-NEW", "LATER-OLD"]
        assert "Waiting for 1 hour" in html and "Waiting for 5 minutes" in html

    def test_a_flood_from_one_source_buries_nobody(self, app: Flask, runtime: Runtime) -> None:
        """Sources take turns, and a page load opens at most QUEUE_PAGE requests: 30
        urgent requests from one codename, then a real one from another source, which is
        second on the first page; the flood's rest waits on the next page."""
        duty = make_account(runtime, "duty1")
        client = logged_in(app, duty)
        on_duty(runtime, duty)
        flooder = new_source(runtime)
        ask(flooder, {**URGENT, "contact_details": "FLOOD-FIRST"})
        (first,) = _requests(runtime)
        with runtime.session() as db:
            source = db.get(type(first.source), first.source_id)
            assert source is not None
            for _ in range(29):  # the same sealed document, sealed again per request
                care.seal_care_request(
                    db,
                    runtime.keyring,
                    source,
                    {"kind": "assist", "assist": {**URGENT, "contact_details": "FLOOD"}},
                    "fr",
                    runtime.submission_fingerprint,
                )
        ask(new_source(runtime), {**URGENT, "contact_details": "REAL-REQUEST"})
        html = client.get("/care/").text
        shown = re.findall(r"(FLOOD-FIRST|FLOOD|REAL-REQUEST)", html)
        assert shown[:2] == ["FLOOD-FIRST", "REAL-REQUEST"], shown[:3]
        assert html.count('<article class="care-request') == care_queue.QUEUE_PAGE
        assert "Page 1 of 2 (31 requests waiting or taken)" in html
        rest = client.get("/care/?page=2").text
        assert rest.count('<article class="care-request') == 31 - care_queue.QUEUE_PAGE
        assert "REAL-REQUEST" not in rest and 'rel="prev"' in rest


class TestActions:
    """Take, answer, refer and close, one step each, audited by uuid."""

    def _setup(self, app: Flask, runtime: Runtime, fields: dict[str, object]) -> tuple:  # type: ignore[type-arg]
        duty = make_account(runtime, "duty1")
        client = logged_in(app, duty)
        on_duty(runtime, duty)
        browser = new_source(runtime)
        ask(browser, fields)
        (request,) = _requests(runtime)
        return duty, client, browser, request

    def test_take_answer_close(self, app: Flask, runtime: Runtime) -> None:
        duty, client, browser, request = self._setup(app, runtime, URGENT)
        page = f"/care/{request.uuid}"
        assert MARKER in client.get(page).text
        assert post_form(client, f"{page}/take", page=page).status_code == 302
        (taken,) = _requests(runtime)
        assert taken.status is CareStatus.TAKEN
        assert taken.taken_by_id == _reviewer(runtime, duty).id and taken.taken_at is not None

        answer = "We can meet you today at the clinic in the north."
        response = post_form(client, f"{page}/answer", {"message": answer}, page=page)
        assert response.status_code == 302
        with runtime.session() as db:
            reply = db.scalars(select(Reply)).one()
            assert reply.source.uuid == taken.source.uuid
        # The source reads the answer with their codename, as every reply.
        assert answer in browser.client.get("/lookup").text

        assert post_form(client, f"{page}/close", page=page).status_code == 302
        (closed,) = _requests(runtime)
        assert closed.status is CareStatus.CLOSED and closed.closed_at is not None
        assert "No open requests." in client.get("/care/").text
        for action in ("care_request_taken", "care_request_answered", "care_request_closed"):
            assert [e.object_uuid for e in _events(runtime, action)] == [request.uuid]
        assert [e.object_uuid for e in _events(runtime, "reply_sent")] == [taken.source.uuid]

    def test_login_lands_on_the_queue_while_a_request_waits_untaken(
        self, app: Flask, runtime: Runtime
    ) -> None:
        duty, duty2 = make_account(runtime, "duty1"), make_account(runtime, "duty2")
        other = make_account(runtime, "other1")
        on_duty(runtime, duty)
        on_duty(runtime, duty2)
        assert login(app.test_client(), duty).headers["Location"] == "/dashboard/"  # nothing waits
        ask(new_source(runtime), URGENT)
        client = app.test_client()
        assert login(client, duty, code=duty.code(1)).headers["Location"] == "/care/"
        # Not on duty while someone is: the queue is not theirs, nor is the landing.
        assert login(app.test_client(), other).headers["Location"] == "/dashboard/"
        (request,) = _requests(runtime)
        page = f"/care/{request.uuid}"
        assert post_form(client, f"{page}/take", page=page).status_code == 302
        # Taken: nothing waits untaken any more.
        assert login(app.test_client(), duty2).headers["Location"] == "/dashboard/"

    def _org(self, runtime: Runtime) -> str:
        with runtime.session() as db:
            org = partners.create_org(db, None, "Clinic North", [PartnerService.MEDICAL])  # type: ignore[arg-type]
            return org.uuid

    def test_refer_in_one_step_with_the_sources_consent(self, app: Flask, runtime: Runtime) -> None:
        duty, client, _browser, request = self._setup(app, runtime, CONSENTING)
        org_uuid = self._org(runtime)
        page = f"/care/{request.uuid}"
        assert "The source consented to a referral in this request." in client.get(page).text
        response = post_form(client, f"{page}/refer", {"org": org_uuid}, page=page)
        assert response.status_code == 302 and "/referrals/" in response.headers["Location"]
        with runtime.session() as db:
            referral = db.scalars(select(Referral)).one()
            case = db.scalars(select(Case)).one()
            assert referral.case_id == case.id and case.urgent_medical
            assert referral.consent_attested_by_id == _reviewer(runtime, duty).id
            assert not referral.contact_consented
        (taken,) = _requests(runtime)
        assert taken.status is CareStatus.TAKEN
        assert [e.object_uuid for e in _events(runtime, "care_request_referred")] == [request.uuid]

    def test_contact_consent_goes_with_the_referral(self, app: Flask, runtime: Runtime) -> None:
        """The source allowed the partner to contact them (`contact_partner`): the
        referral carries it, so the partner may write to the source."""
        fields = {**CONSENTING, "consent_contact_partner": "yes"}
        _duty, client, _browser, request = self._setup(app, runtime, fields)
        org_uuid = self._org(runtime)
        page = f"/care/{request.uuid}"
        response = post_form(client, f"{page}/refer", {"org": org_uuid}, page=page)
        assert response.status_code == 302
        with runtime.session() as db:
            assert db.scalars(select(Referral)).one().contact_consented

    def test_no_referral_without_consent(self, app: Flask, runtime: Runtime) -> None:
        _duty, client, _browser, request = self._setup(
            app, runtime, {**URGENT, "consent_refer_partner": "no"}
        )
        org_uuid = self._org(runtime)
        page = f"/care/{request.uuid}"
        response = post_form(client, f"{page}/refer", {"org": org_uuid}, page=page)
        assert response.status_code == 302
        assert "did not consent to a referral" in client.get(page).text
        with runtime.session() as db:
            assert db.scalar(select(func.count()).select_from(Referral)) == 0

    def test_forms_need_csrf(self, app: Flask, runtime: Runtime) -> None:
        _duty, client, _browser, request = self._setup(app, runtime, URGENT)
        for action in ("take", "close", "answer", "refer"):
            assert client.post(f"/care/{request.uuid}/{action}").status_code == 400
        assert _requests(runtime)[0].status is CareStatus.OPEN


class TestEscalation:
    def test_urgent_untaken_requests_escalate_once(self, app: Flask, runtime: Runtime) -> None:
        duty = make_account(runtime, "duty1")
        client = logged_in(app, duty)
        on_duty(runtime, duty)
        for fields in (URGENT, URGENT, {"urgency": "later", "recent": "no"}):
            ask(new_source(runtime), fields)
        late, taken, calm = _requests(runtime)
        with runtime.session() as db:
            db.execute(
                update(CareRequest).values(
                    created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)
                )
            )
            db.commit()
        post_form(client, f"/care/{taken.uuid}/take", page=f"/care/{taken.uuid}")
        minutes = runtime.config.care_escalate_minutes
        assert minutes == 30
        with runtime.session() as db:
            assert care.escalate_overdue(db, minutes=minutes) == [late.uuid]
            assert care.escalate_overdue(db, minutes=minutes) == []  # once only
        escalated = {r.uuid: r.escalated_at for r in _requests(runtime)}
        assert escalated[late.uuid] is not None
        assert escalated[taken.uuid] is None and escalated[calm.uuid] is None
        events = _events(runtime, "care_request_escalated")
        assert [(e.object_uuid, e.actor_uuid) for e in events] == [(late.uuid, None)]
        assert "Escalated" in client.get("/care/").text

    def test_not_before_the_time(self, app: Flask, runtime: Runtime) -> None:
        duty = make_account(runtime, "duty1")
        logged_in(app, duty)
        ask(new_source(runtime), URGENT)
        with runtime.session() as db:
            assert care.escalate_overdue(db, minutes=30) == []


class TestDeletionAndLeaks:
    def test_deleting_the_source_removes_its_care_requests(
        self, app: Flask, runtime: Runtime
    ) -> None:
        duty = make_account(runtime, "duty1")
        client = logged_in(app, duty)
        on_duty(runtime, duty)
        ask(new_source(runtime), URGENT)
        (request,) = _requests(runtime)
        source_uuid = request.source.uuid
        response = post_form(
            client, f"/sources/{source_uuid}/delete", page=f"/sources/{source_uuid}"
        )
        assert response.status_code == 302
        # Hidden at once from the queue, removed by the deletion job.
        assert "No open requests." in client.get("/care/").text
        assert jobs.delete_source(runtime, source_uuid)
        assert _requests(runtime) == []

    def test_the_request_never_appears_in_clear(
        self, app: Flask, runtime: Runtime, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        duty = make_account(runtime, "duty1")
        client = logged_in(app, duty)
        on_duty(runtime, duty)
        ask(new_source(runtime), URGENT)
        (request,) = _requests(runtime)
        page = f"/care/{request.uuid}"
        assert MARKER in client.get("/care/").text and MARKER in client.get(page).text
        post_form(client, f"{page}/take", page=page)
        assert_no_leak(
            MARKER,
            files=[runtime.config.instance_dir.parent],
            engine=runtime.engine,
            redis=runtime.redis,
            blobs={"captured logs": caplog.text.encode()},
        )


class TestCareDuty:
    def test_admin_puts_an_analyston_duty(
        self, app: Flask, runtime: Runtime, admin_client: FlaskClient, analyst: Account
    ) -> None:
        page = f"/admin/reviewers/{analyst.uuid}"
        assert "Not on care duty." in admin_client.get(page).text
        response = post_form(admin_client, f"{page}/care-duty", {"on_duty": "1"}, page=page)
        assert response.status_code == 302
        assert _reviewer(runtime, analyst).on_care_duty
        assert "Take off care duty" in admin_client.get(page).text
        post_form(admin_client, f"{page}/care-duty", {"on_duty": "0"}, page=page)
        assert not _reviewer(runtime, analyst).on_care_duty
        assert [e.object_uuid for e in _events(runtime, "care_duty_started")] == [analyst.uuid]
        assert [e.object_uuid for e in _events(runtime, "care_duty_ended")] == [analyst.uuid]

    def test_partners_are_neveron_duty(
        self, app: Flask, runtime: Runtime, admin_client: FlaskClient, partner: Account
    ) -> None:
        page = f"/admin/reviewers/{partner.uuid}"
        assert "Partners are never on care duty" in admin_client.get(page).text
        post_form(admin_client, f"{page}/care-duty", {"on_duty": "1"}, page=page)
        assert not _reviewer(runtime, partner).on_care_duty
        partner_client = logged_in(app, partner)
        assert partner_client.get("/care/").status_code == 403
        assert _events(runtime, "care_access_denied")


class TestAnswerTakesAndRefers:
    """The answer form: it takes an untaken request (audited as a take), is refused on a
    colleague's request, and with a partner chosen also refers, with the refer form's
    checks (the source's consent), or sends nothing."""

    def _setup(self, app: Flask, runtime: Runtime, fields: dict[str, object]) -> tuple:  # type: ignore[type-arg]
        duty, duty2 = make_account(runtime, "duty1"), make_account(runtime, "duty2")
        client, client2 = logged_in(app, duty), logged_in(app, duty2)
        on_duty(runtime, duty)
        on_duty(runtime, duty2)
        browser = new_source(runtime)
        ask(browser, fields)
        (request,) = _requests(runtime)
        return (duty, client), (duty2, client2), browser, request

    def _replies(self, runtime: Runtime) -> int:
        with runtime.session() as db:
            return int(db.scalar(select(func.count()).select_from(Reply)) or 0)

    def _referrals(self, runtime: Runtime) -> int:
        with runtime.session() as db:
            return int(db.scalar(select(func.count()).select_from(Referral)) or 0)

    def test_answering_takes_the_request(self, app: Flask, runtime: Runtime) -> None:
        (duty, client), _other, browser, request = self._setup(app, runtime, URGENT)
        page = f"/care/{request.uuid}"
        html = client.get(page).text
        assert "Answering takes the request: no need to take it first." in html
        response = post_form(client, f"{page}/answer", {"message": "We call you today."}, page=page)
        assert response.status_code == 302 and response.headers["Location"] == page
        (taken,) = _requests(runtime)
        assert taken.status is CareStatus.TAKEN
        assert taken.taken_by_id == _reviewer(runtime, duty).id
        assert [e.object_uuid for e in _events(runtime, "care_request_taken")] == [request.uuid]
        assert [e.actor_uuid for e in _events(runtime, "care_request_taken")] == [duty.uuid]
        assert "We call you today." in browser.client.get("/lookup").text
        html = client.get(page).text
        assert "You have taken this request." in html and "Take it</button>" not in html

    def test_a_colleagues_request_is_refused_until_taken_over(
        self, app: Flask, runtime: Runtime
    ) -> None:
        (_duty, client), (duty2, client2), _browser, request = self._setup(app, runtime, URGENT)
        page = f"/care/{request.uuid}"
        post_form(client, f"{page}/take", page=page)
        html = client2.get(page).text
        assert "duty1 has taken this request" in html and "Take it over" in html
        typed = "Second answer, typed before seeing it was taken."
        response = post_form(client2, f"{page}/answer", {"message": typed}, page=page)
        assert response.status_code == 409
        assert "duty1 has taken this request: nothing was sent." in response.text
        assert typed in response.text  # what was typed comes back in the form
        assert self._replies(runtime) == 0
        assert _requests(runtime)[0].taken_by_id != _reviewer(runtime, duty2).id
        assert _events(runtime, "care_request_answered") == []
        # Taken over, the colleague's answer goes.
        post_form(client2, f"{page}/take", page=page)
        response = post_form(client2, f"{page}/answer", {"message": typed}, page=page)
        assert response.status_code == 302 and self._replies(runtime) == 1

    def test_answer_and_refer_in_one_submit(self, app: Flask, runtime: Runtime) -> None:
        (duty, client), _other, browser, request = self._setup(app, runtime, CONSENTING)
        org_uuid = TestActions()._org(runtime)
        page = f"/care/{request.uuid}"
        html = client.get(page).text
        assert 'name="org"' in html and "Do not refer" in html and "Clinic North" in html
        answer = "A nurse of Clinic North can see you today."
        response = post_form(
            client, f"{page}/answer", {"message": answer, "org": org_uuid}, page=page
        )
        assert response.status_code == 302 and "/referrals/" in response.headers["Location"]
        landed = client.get(response.headers["Location"]).text
        assert "Your answer was encrypted and stored for the source." in landed
        assert "The source was referred." in landed
        with runtime.session() as db:
            referral = db.scalars(select(Referral)).one()
            assert referral.consent_attested_by_id == _reviewer(runtime, duty).id
            assert referral.case.urgent_medical and referral.case.status.value == "referred"
        assert self._replies(runtime) == 1
        assert answer in browser.client.get("/lookup").text
        for action in ("care_request_taken", "care_request_referred", "care_request_answered"):
            assert [e.object_uuid for e in _events(runtime, action)] == [request.uuid]

    def test_no_consent_to_a_referral_sends_nothing(self, app: Flask, runtime: Runtime) -> None:
        fields = {**URGENT, "consent_refer_partner": "no"}
        (_duty, client), _other, _browser, request = self._setup(app, runtime, fields)
        org_uuid = TestActions()._org(runtime)
        page = f"/care/{request.uuid}"
        answer = "We refer you to the clinic."
        response = post_form(
            client, f"{page}/answer", {"message": answer, "org": org_uuid}, page=page
        )
        assert response.status_code == 409
        assert "did not consent to a referral: nothing was sent." in response.text
        assert answer in response.text
        assert self._replies(runtime) == 0 and self._referrals(runtime) == 0
        assert _events(runtime, "care_request_answered") == []

    def test_an_empty_answer_refers_nobody(self, app: Flask, runtime: Runtime) -> None:
        (_duty, client), _other, _browser, request = self._setup(app, runtime, CONSENTING)
        org_uuid = TestActions()._org(runtime)
        page = f"/care/{request.uuid}"
        response = post_form(
            client, f"{page}/answer", {"message": "  ", "org": org_uuid}, page=page
        )
        assert response.status_code == 400
        assert self._replies(runtime) == 0 and self._referrals(runtime) == 0


def _sealed(runtime: Runtime, fields: dict[str, object], at: dt.datetime) -> str:
    """A care request of a new source (made through the vault services, so that many
    sources cost no source-app throttle), arrived at `at`; its uuid."""
    source = make_source(runtime)
    document = {"kind": "assist", "assist": {**fields, "contact": {"details": MARKER}}}
    with runtime.session() as db:
        row = db.scalars(select(Source).where(Source.uuid == source.uuid)).one()
        request = care.seal_care_request(
            db, runtime.keyring, row, document, "fr", runtime.submission_fingerprint
        )
        assert request is not None
        request.created_at = at
        db.commit()
        return request.uuid


class TestDashboardCareList:
    """The dashboard lists the care requests waiting for someone (untaken, or taken by
    me and unanswered), in the queue's order, each linking to the request, with the
    72-hour clock of urgent ones; never what a request says."""

    def test_waiting_requests_on_the_dashboard(self, app: Flask, runtime: Runtime) -> None:
        duty, duty2 = make_account(runtime, "duty1"), make_account(runtime, "duty2")
        client, client2 = logged_in(app, duty), logged_in(app, duty2)
        on_duty(runtime, duty)
        on_duty(runtime, duty2)
        calm = {"needs": ["legal"], "urgency": "later", "recent": "no"}
        now = dt.datetime.now(dt.UTC)
        made = [
            _sealed(runtime, fields, now - dt.timedelta(hours=hours))
            for fields, hours in ((calm, 50), (URGENT, 2), (URGENT, 80), (URGENT, 1), (URGENT, 3))
        ]
        old_calm, urgent2, urgent80, mine_answered, theirs = made
        for request, who in ((mine_answered, client), (theirs, client2)):
            post_form(who, f"/care/{request}/take", page=f"/care/{request}")
        post_form(
            client,
            f"/care/{mine_answered}/answer",
            {"message": "answered"},
            page=f"/care/{mine_answered}",
        )
        # One of mine, taken and not answered yet.
        mine_open = _sealed(runtime, URGENT, now)
        post_form(client, f"/care/{mine_open}/take", page=f"/care/{mine_open}")

        html = client.get("/dashboard/").text
        listed = re.findall(r'data-request="([0-9a-f-]{36})"', html)
        assert listed == [urgent80, urgent2, mine_open, old_calm]
        assert f'href="/care/{urgent80}"' in html
        assert "72 hours have passed since it arrived" in html
        assert html.count("left at most") == 2  # the urgent ones under 72 hours old
        assert html.count("taken by you, not answered yet") == 1
        assert MARKER not in html  # nothing opened
        # The colleague sees their own taken request, not mine.
        listed2 = re.findall(r'data-request="([0-9a-f-]{36})"', client2.get("/dashboard/").text)
        assert theirs in listed2 and mine_open not in listed2

    def test_not_on_the_dashboard_of_those_outside_the_queue(
        self, app: Flask, runtime: Runtime
    ) -> None:
        duty, other = make_account(runtime, "duty1"), make_account(runtime, "other1")
        logged_in(app, duty)
        other_client = logged_in(app, other)
        on_duty(runtime, duty)
        ask(new_source(runtime), URGENT)
        html = other_client.get("/dashboard/").text
        assert "Care requests waiting" not in html and "data-request=" not in html
