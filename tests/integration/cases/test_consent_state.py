"""Consent as a state, through the reviewer interface with real gpg and both databases:
a consent document arrives (flagged on the case page, the case list and the inbox), the
workstation decrypts it and shows its check code, the analyst records it on the case page
(the flag clears), and referral is refused until the recorded consent says yes."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from keys.lifecycle import GeneratedKey
from tests.conftest import SUBMISSION_PASSPHRASE
from tests.integration.source_app.helpers import SourceBrowser
from tests.support import care as care_helpers
from tests.support.consent import record_consent
from tests.support.journalist import login, make_account, make_source, post_form
from vault import reports
from vault.consent_record import Answer, purposes
from vault.models import (
    AuditEvent,
    CareRequest,
    Case,
    ConsentAnswer,
    ConsentDocument,
    ConsentOrigin,
    ConsentRecord,
    PartnerService,
    Referral,
    Reviewer,
    Role,
    Source,
    Submission,
)
from vault.services import cases, consents, partners, sources
from workstation.consent import ConsentReading, reading_of
from workstation.decrypt import decrypt_downloads

FLAG = "new consent document: record it"


def _count(runtime: Runtime, action: str) -> int:
    with runtime.session() as db:
        return db.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


class _World:
    """A source in a case; consent documents sealed as the source app seals them."""

    def __init__(self, runtime: Runtime, client: FlaskClient, home: Path, out: Path) -> None:
        self.runtime, self.client, self.home, self.out = runtime, client, home, out
        self.source = make_source(runtime)
        page = f"/sources/{self.source.uuid}"
        post_form(client, "/cases/new", {"source": self.source.uuid}, page=page)
        with runtime.session() as db:
            self.case_uuid = db.scalars(select(Case.uuid)).one()
        self.page = f"/cases/{self.case_uuid}"

    def send_consent(self, form: dict[str, list[str]], *, age_hours: int = 0) -> str:
        """The source sends a change of consent: sealed, then flagged (as source_app)."""
        with self.runtime.session() as db:
            source = db.scalars(select(Source).where(Source.uuid == self.source.uuid)).one()
            document = reports.dumps(reports.consent_from_form(form))
            [message] = sources.submit(
                db, self.runtime.store, source, self.runtime.submission_fingerprint, document, []
            )
            if age_hours:  # an older document, arrived earlier
                when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=age_hours)
                db.execute(
                    update(Submission).where(Submission.id == message.id).values(created_at=when)
                )
                db.commit()
                db.refresh(message)
            consents.note_document(db, message)
            return message.uuid

    def workstation_reads(self, submission_uuid: str) -> ConsentReading:
        """Download the sealed file and decrypt it on the 'workstation', as an analyst does."""
        with self.runtime.session() as db:
            row = db.scalars(select(Submission).where(Submission.uuid == submission_uuid)).one()
            name = row.filename
        download = self.out / "transfer" / name
        download.parent.mkdir(parents=True, exist_ok=True)
        download.write_bytes(self.runtime.store.path_of(self.source.uuid, name).read_bytes())
        [plain] = decrypt_downloads(self.home, SUBMISSION_PASSPHRASE, [download], self.out)
        document = reports.loads(plain.read_text())
        assert document is not None
        reading = reading_of(document, name)
        assert reading is not None
        return reading

    def record(self, submission_uuid: str, reading: ConsentReading, code: str | None = None) -> str:
        data = {"document": submission_uuid, "code": code or reading.code.lower()}
        data |= {f"answer_{p}": reading.answers[p].value for p in purposes()}
        post_form(self.client, f"{self.page}/consent", data, page=self.page)
        return self.client.get(self.page).get_data(as_text=True)


@pytest.fixture
def world(
    runtime: Runtime,
    analyst_client: FlaskClient,
    submission_key: tuple[GeneratedKey, Path],
    tmp_path: Path,
) -> _World:
    return _World(runtime, analyst_client, submission_key[1], tmp_path / "ws")


def test_record_from_the_workstation_clears_the_flag(world: _World, runtime: Runtime) -> None:
    page = world.client.get(world.page).get_data(as_text=True)
    assert "No consent recorded" in page and "New consent document" not in page

    first = world.send_consent({"consent_refer_partner": ["yes"], "consent_court": ["no"]})
    page = world.client.get(world.page).get_data(as_text=True)
    assert "New consent document: record it." in page
    assert FLAG in world.client.get("/cases/").get_data(as_text=True)
    assert FLAG in world.client.get("/").get_data(as_text=True)  # the inbox

    reading = world.workstation_reads(first)
    assert reading.answers["court"] is Answer.NO
    # A slip (one answer changed) does not match the code: refused, audited, nothing kept.
    slipped = replace(reading, answers={**reading.answers, "court": Answer.YES})
    page = world.record(first, slipped, code=reading.code)
    assert "check code does not match" in page
    assert _count(runtime, "consent_record_refused") == 1

    page = world.record(first, reading)
    assert "Consent recorded." in page
    assert "New consent document" not in page
    assert re.search(r'class="answer-refer_partner">yes<', page)
    assert re.search(r'class="answer-court">no<', page)
    assert FLAG not in world.client.get("/cases/").get_data(as_text=True)
    assert FLAG not in world.client.get("/").get_data(as_text=True)
    assert _count(runtime, "consent_recorded") == 1

    # A newer document flags again; recording it keeps the older one as history.
    second = world.send_consent({"consent_refer_partner": ["no"], "consent_court": ["yes"]})
    assert "New consent document: record it." in world.client.get(world.page).get_data(True)
    page = world.record(second, world.workstation_reads(second))
    assert "New consent document" not in page and "Earlier consents" in page
    assert re.search(r'class="answer-court">yes<', page)
    with runtime.session() as db:
        records = db.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [r.submission_uuid for r in records] == [first, second]
        assert records[1].given_at >= records[0].given_at


def test_an_older_document_cannot_replace_a_newer_consent(world: _World, runtime: Runtime) -> None:
    older = world.send_consent({"consent_court": ["yes"]}, age_hours=5)
    newer = world.send_consent({"consent_court": ["no"]})
    world.record(newer, world.workstation_reads(newer))
    page = world.record(older, world.workstation_reads(older))
    assert "A newer consent of this source is already recorded" in page
    assert re.search(r'class="answer-court">no<', page)
    assert _count(runtime, "consent_record_refused") == 1


def test_no_referral_without_recorded_referral_consent(
    world: _World, runtime: Runtime, app: Flask
) -> None:
    admin = make_account(runtime, "admin1", Role.ADMIN)
    with runtime.session() as db:
        actor = db.scalars(select(Reviewer).where(Reviewer.uuid == admin.uuid)).one()
        clinic = partners.create_org(db, actor, "Clinic A", [partners.PartnerService.MEDICAL])
    refer_page = f"{world.page}/referrals"
    data = {"org": clinic.uuid, "source": world.source.uuid}

    # No consent recorded: refused, said, audited.
    response = post_form(world.client, refer_page, data, page=refer_page)
    assert "does not allow referral" in response.get_data(as_text=True)
    assert _count(runtime, "consent_refused_refer_partner") == 1

    # Recorded, but not to referral: refused again.
    no = world.send_consent({"consent_refer_partner": ["no"], "consent_handle_case": ["yes"]})
    world.record(no, world.workstation_reads(no))
    post_form(world.client, refer_page, data, page=refer_page)
    assert _count(runtime, "consent_refused_refer_partner") == 2

    yes = world.send_consent({"consent_refer_partner": ["yes"]})
    world.record(yes, world.workstation_reads(yes))
    response = post_form(world.client, refer_page, data, page=refer_page)
    assert response.status_code == 302 and "/referrals/" in response.headers["Location"]
    with runtime.session() as db:
        assert len(db.scalars(select(Referral)).all()) == 1
    assert _count(runtime, "referral_consent_checked") == 1


def test_partner_cannot_record_consent(world: _World, runtime: Runtime, app: Flask) -> None:
    partner_client = app.test_client()
    login(partner_client, make_account(runtime, "partner1", Role.PARTNER))
    message = world.send_consent({"consent_court": ["yes"]})
    reading = world.workstation_reads(message)
    data = {"document": message, "code": reading.code}
    data |= {f"answer_{p}": reading.answers[p].value for p in purposes()}
    response = post_form(partner_client, f"{world.page}/consent", data, page="/referrals/")
    assert response.status_code == 403
    with runtime.session() as db:
        assert db.scalars(select(ConsentRecord)).all() == []
    assert _count(runtime, "case_access_denied") >= 1


def test_deleting_the_source_deletes_its_consent(world: _World, runtime: Runtime) -> None:
    message = world.send_consent({"consent_court": ["yes"]})
    world.record(message, world.workstation_reads(message))
    world.send_consent({"consent_court": ["no"]})  # flagged, not recorded
    with runtime.session() as db:
        source = db.scalars(select(Source).where(Source.uuid == world.source.uuid)).one()
        db.delete(source)  # what the deletion job does last
        db.commit()
        assert db.scalars(select(ConsentRecord)).all() == []
        assert db.scalars(select(ConsentDocument)).all() == []
        assert db.scalar(select(func.count()).select_from(ConsentAnswer)) == 0


class TestCareReferral:
    """The care tier's one-step referral records the request's consent as the state,
    unless a later consent is recorded: then that one decides."""

    def _care_request(self, app: Flask, runtime: Runtime) -> tuple[FlaskClient, SourceBrowser]:
        duty = make_account(runtime, "duty1")
        client = care_helpers.logged_in(app, duty)
        care_helpers.on_duty(runtime, duty)
        browser = care_helpers.new_source(runtime)
        fields: dict[str, object] = {**care_helpers.URGENT, "consent_refer_partner": "yes"}
        care_helpers.ask(browser, fields)
        with runtime.session() as db:
            clinic = partners.create_org(db, None, "Clinic North", [PartnerService.MEDICAL])  # type: ignore[arg-type]
            self.org_uuid = clinic.uuid
            self.request_uuid = db.scalars(select(CareRequest.uuid)).one()
        return client, browser

    def _refer(self, client: FlaskClient) -> str:
        page = f"/care/{self.request_uuid}"
        post_form(client, f"{page}/refer", {"org": self.org_uuid}, page=page)
        return client.get(page).get_data(as_text=True)

    def test_the_requests_consent_is_recorded(self, app: Flask, runtime: Runtime) -> None:
        client, _browser = self._care_request(app, runtime)
        self._refer(client)
        with runtime.session() as db:
            record = db.scalars(select(ConsentRecord)).one()
            assert record.origin is ConsentOrigin.CARE_REQUEST
            assert record.submission_uuid == self.request_uuid
            assert record.answer("refer_partner") is Answer.YES
            assert record.answer("court") is Answer.UNKNOWN
            assert len(db.scalars(select(Referral)).all()) == 1
            # The ASSIST request's own flag is cleared: its consent is recorded.
            assert consents.sources_awaiting_record(db, [record.source_id]) == set()

    def test_a_later_withdrawal_recorded_from_the_workstation_wins(
        self, app: Flask, runtime: Runtime
    ) -> None:
        client, browser = self._care_request(app, runtime)
        page = browser.client.get("/help/consent").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        data = {"csrf_token": token.group(1), "consent_refer_partner": "no"}
        assert browser.client.post("/help/consent", data=data).status_code == 302
        analyst = make_account(runtime, "analyst9")
        with runtime.session() as db:
            source = db.scalars(select(Source)).one()
            case = cases.create_case(db, _row(db, analyst.uuid), [source.uuid])
            case_uuid, source_uuid = case.uuid, source.uuid
        record_consent(runtime, analyst.uuid, case_uuid, source_uuid)  # every purpose: no
        assert "did not consent to a referral" in self._refer(client)
        with runtime.session() as db:
            assert db.scalars(select(Referral)).all() == []
            assert db.scalars(select(ConsentRecord)).one().origin is ConsentOrigin.WORKSTATION
        assert _count(runtime, "consent_refused_refer_partner") == 1


def _row(db: Session, reviewer_uuid: str) -> Reviewer:
    return db.scalars(select(Reviewer).where(Reviewer.uuid == reviewer_uuid)).one()
