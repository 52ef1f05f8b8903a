"""A reviewer instance with something on every page, made through the vault services
and the source app's test client: an admin (an analyst too) and a partner in a clinic,
sources with messages, documents and a reply, a case with labels, an assignee, a due
date, a note and a referral the partner accepted, an urgent care request, a source old
enough for the retention preview."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from composition.runtime import Runtime
from tests.support import care as care_support
from tests.support.consent import record_consent
from tests.support.journalist import Account, age_source, make_account, make_source
from vault.consent_record import purposes
from vault.models import (
    CareRequest,
    CasePriority,
    PartnerService,
    ReferralStatus,
    Reviewer,
    Role,
)
from vault.services import case_edits, cases, notes, partners, referral_messages, referrals, replies
from vault.services import sources as source_services


@dataclass
class Accounts:
    admin: Account
    analyst: Account
    partner: Account
    org_uuid: str


@dataclass
class Seeded:
    source_uuid: str
    message_uuid: str
    case_uuid: str
    care_uuid: str
    referral_uuid: str
    case_reference: str = ""
    fresh_source_uuid: str = ""  # a source in no case


def accounts(runtime: Runtime) -> Accounts:
    """The admin, an analyst and the clinic's partner (who log in next, so that they
    hold keys)."""
    admin = make_account(runtime, "admin1", Role.ADMIN)
    analyst = make_account(runtime, "analyst1", Role.ANALYST)
    partner = make_account(runtime, "clinic-nurse", Role.PARTNER)
    with runtime.session() as db:
        actor = _reviewer(db, admin.uuid)
        clinic = partners.create_org(
            db, actor, "Clinic Kigali", [PartnerService.MEDICAL, PartnerService.PSYCHOSOCIAL]
        )
        partners.add_member(db, actor, clinic.uuid, partner.uuid)
        return Accounts(admin, analyst, partner, clinic.uuid)


def content(runtime: Runtime, made: Accounts, *, lang: str = "fr") -> Seeded:
    """Everything else, once the accounts have logged in (notes, referral messages and
    care requests are sealed to their keys)."""
    quiet = make_source(runtime, "an old message")
    age_source(runtime, quiet.uuid, days=400)  # for the retention preview
    submitted = make_source(runtime)
    fresh = make_source(runtime, "another source")
    with runtime.session() as db:
        actor = _reviewer(db, made.admin.uuid)
        source = source_services.get_active_source(db, submitted.uuid)
        replies.send_reply(
            db,
            runtime.store,
            runtime.keyring,
            source,
            actor,
            "We read your message. Can you say where you are safe?",
            runtime.submission_fingerprint,
        )
        case = cases.create_case(
            db, actor, [submitted.uuid], priority=CasePriority.HIGH, urgent_medical=True
        )
        case_uuid, case_reference = case.uuid, case.reference
        for label in ("medical", "north-kivu"):
            case_edits.add_label(db, actor, case_uuid, label)
        case_edits.assign(db, actor, case_uuid, made.admin.uuid)
        case_edits.set_due(db, actor, case_uuid, dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
        notes.add_note(
            db,
            runtime.keyring,
            actor,
            case_uuid,
            "Called the clinic; they can see her on Tuesday.",
            runtime.submission_fingerprint,
        )
    record_consent(runtime, made.admin.uuid, case_uuid, submitted.uuid, *purposes())
    with runtime.session() as db:
        actor = _reviewer(db, made.admin.uuid)
        referral = referrals.create_referral(db, actor, case_uuid, made.org_uuid, submitted.uuid)
        referral_uuid = referral.uuid
        referral_messages.add_message(
            db,
            runtime.keyring,
            actor,
            referral_uuid,
            "Urgent: needs PEP within 72 hours.",
            runtime.submission_fingerprint,
        )
        nurse = _reviewer(db, made.partner.uuid)
        referrals.set_status(db, nurse, referral_uuid, ReferralStatus.ACCEPTED)
    urgent: dict[str, object] = {name: value for name, value in care_support.URGENT.items()}
    care_support.ask(care_support.new_source(runtime), urgent, lang=lang)
    with runtime.session() as db:
        care_uuid = db.scalars(select(CareRequest.uuid).order_by(CareRequest.id.desc())).first()
        assert care_uuid is not None
    return Seeded(
        submitted.uuid,
        submitted.message_uuid,
        case_uuid,
        care_uuid,
        referral_uuid,
        case_reference,
        fresh.uuid,
    )


def _reviewer(db: Session, uuid: str) -> Reviewer:
    return db.scalars(select(Reviewer).where(Reviewer.uuid == uuid)).one()
