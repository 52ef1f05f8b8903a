"""The care tier: who reads a care request, sealing it, re-sealing it, escalating it.

An ASSIST request reaches the evidence path as always (a sealed submission, opened only
on the air-gapped workstation). Unless the source chose the evidence path only, a *care
copy* of the same document, with the source's interface language, is also sealed to
the care readers and the submission key (vault.models.care), so a professional can open
it in memory while logged in, with the key passphrase of their session (as case notes:
vault.services.notes).

The care readers. Admins put analysts and admins on care duty (`Reviewer.on_care_duty`;
partners never: they see only the cases referred to them). The readers are the active
on-duty accounts holding an account key. If no one on duty holds a key, they are every
active analyst and admin holding one (the readers of case notes). If nobody at all holds
one, no care copy is made: the request takes the evidence path only, and the source is
told so before sending (`care_reach`). A care request sealed to nobody online cannot
exist.

Re-sealing follows the notes' rules (vault.services.resealing): when the readers change,
a reader who logs in or opens the care queue seals the open requests it can open again
to the current readers (always with the submission key). Closed requests are left as
they are: nobody works on them any more, and the workstation reads them all with the
submission key.

Escalation: an urgent request still open and untaken `care_escalate_minutes` after it
arrived is escalated once (`escalate_overdue`, run by `backupctl care escalate`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from vault import reports
from vault.db import utcnow
from vault.errors import VaultError
from vault.models import AccountKey, CareRequest, CareStatus, Reviewer, Role, Source
from vault.models.note import canonical_recipients
from vault.ports import Keyring
from vault.services import audit, resealing
from vault.services.audit_log import RefusalRecordedError
from vault.services.reviewers import require_admin

__all__ = [
    "CARE_ROLES",
    "CareReach",
    "InvalidCareInputError",
    "care_document",
    "care_reach",
    "care_recipients",
    "escalate_overdue",
    "is_care_member",
    "is_urgent",
    "require_care_member",
    "reseal_pending_care",
    "seal_care_request",
    "set_on_duty",
]

# Who may be on care duty: the roles that read sources and cases.
CARE_ROLES = (Role.ANALYST, Role.ADMIN)
# The answers to "did it happen in the last 3 days?" that make a request urgent.
_RECENT_URGENT = frozenset({"yes", "unsure"})


class InvalidCareInputError(VaultError):
    """Not a valid care action (a partner on duty, a closed request taken...)."""


class CareReach(enum.Enum):
    """Who can read a care request sealed now (what the source is told before sending)."""

    ON_DUTY = "on_duty"  # the on-duty care team
    ALL_READERS = "all_readers"  # nobody on duty holds a key: every analyst and admin
    NOBODY = "nobody"  # nobody holds a key: no care copy, the evidence path only


def is_urgent(assist: Mapping[str, Any]) -> bool:
    """It may have happened within 72 hours (yes, or not sure), or help is needed today."""
    return assist.get("within_72_hours") in _RECENT_URGENT or assist.get("urgency") == "today"


def _key_holders(db: Session, *, on_duty_only: bool) -> list[str]:
    query = (
        select(AccountKey.fingerprint)
        .join(Reviewer, Reviewer.id == AccountKey.reviewer_id)
        .where(Reviewer.is_active.is_(True), Reviewer.role.in_(CARE_ROLES))
    )
    if on_duty_only:
        query = query.where(Reviewer.on_care_duty.is_(True))
    return sorted(db.scalars(query))


def _readers(db: Session) -> tuple[CareReach, list[str]]:
    on_duty = _key_holders(db, on_duty_only=True)
    if on_duty:
        return CareReach.ON_DUTY, on_duty
    everyone = _key_holders(db, on_duty_only=False)
    return (CareReach.ALL_READERS, everyone) if everyone else (CareReach.NOBODY, [])


def care_reach(db: Session) -> CareReach:
    return _readers(db)[0]


def care_recipients(db: Session, submission_fingerprint: str) -> list[str] | None:
    """Whom a care request is sealed to now (the readers and, always, the submission
    key), or None when no reader exists: then there is no care copy at all."""
    _, readers = _readers(db)
    if not readers:
        return None
    return sorted({*readers, submission_fingerprint})


def care_document(document: Mapping[str, Any], language: str) -> dict[str, Any]:
    """The care copy: the sealed ASSIST document and the language the source reads."""
    return {**document, "language": language}


def seal_care_request(
    db: Session,
    keyring: Keyring,
    source: Source,
    document: Mapping[str, Any],
    language: str,
    submission_fingerprint: str,
) -> CareRequest | None:
    """Seal the care copy of an ASSIST `document` to the care readers; recorded and
    audited by uuid. None (nothing stored) when nobody could read it online."""
    assist = document.get("assist")
    if document.get("kind") != "assist" or not isinstance(assist, Mapping):
        raise InvalidCareInputError("not an ASSIST document")
    recipients = care_recipients(db, submission_fingerprint)
    if recipients is None:
        return None
    plaintext = reports.dumps(care_document(document, language)).encode()
    ciphertext = keyring.seal_bytes(plaintext, recipients)
    request = CareRequest(
        source_id=source.id,
        ciphertext=ciphertext,
        size=len(ciphertext),
        recipients=canonical_recipients(recipients),
        urgent=is_urgent(assist),
    )
    db.add(request)
    db.flush()
    audit.record(db, None, "care_request_created", "care_request", request.uuid)
    return request


def is_care_member(db: Session, reviewer: Reviewer) -> bool:
    """May use the care queue: an active admin, an active analyst on care duty, or, while
    nobody on duty holds a key (requests are then sealed to every analyst), any active
    analyst: a request sealed to someone who cannot reach the queue would wait unseen."""
    if not reviewer.is_active or reviewer.role not in CARE_ROLES:
        return False
    if reviewer.on_care_duty or reviewer.role is Role.ADMIN:
        return True
    return care_reach(db) is CareReach.ALL_READERS


def require_care_member(db: Session, actor: Reviewer, object_uuid: str | None = None) -> None:
    """Refuse anyone else (the refusal is audited, even though the transaction fails)."""
    if not is_care_member(db, actor):
        audit.record_refusal(db, actor, "care_access_denied", "care_request", object_uuid)
        raise RefusalRecordedError("not on the care team")


def set_on_duty(db: Session, actor: Reviewer | None, reviewer: Reviewer, on_duty: bool) -> None:
    """An admin puts an analyst or admin on care duty, or takes them off; audited."""
    require_admin(actor)
    if on_duty and reviewer.role not in CARE_ROLES:
        raise InvalidCareInputError("partners are never on care duty")
    if reviewer.on_care_duty == on_duty:
        return
    reviewer.on_care_duty = on_duty
    action = "care_duty_started" if on_duty else "care_duty_ended"
    audit.record(db, actor, action, "reviewer", reviewer.uuid)


def reseal_pending_care(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    session_key_passphrase: str,
    submission_fingerprint: str,
    *,
    limit: int = 100,
) -> int:
    """Re-seal up to `limit` open or taken care requests (oldest first) that `actor` can
    open and whose recipients are not the current care readers; recorded with their
    audit events. Only a current care reader re-seals. Returns how many were re-sealed."""
    mine = resealing.account_fingerprint(db, actor)
    current = care_recipients(db, submission_fingerprint)
    if limit <= 0 or mine is None or current is None or not resealing.is_reader(mine, current):
        return 0
    stale = select(CareRequest).where(
        CareRequest.status != CareStatus.CLOSED,
        CareRequest.recipients.is_distinct_from(canonical_recipients(current)),
        resealing.sealed_to(CareRequest.recipients, mine),
    )
    return resealing.reseal_stale(
        db,
        keyring,
        actor,
        stale.order_by(CareRequest.id),
        lambda _row: current,
        mine,
        session_key_passphrase,
        limit,
    )


def reseal_opened_care(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    opened: Sequence[tuple[CareRequest, str | None]],
    submission_fingerprint: str,
) -> None:
    """On a read of the queue: what was just opened follows the current readers."""
    current = care_recipients(db, submission_fingerprint)
    if current is not None:
        live = [(item, text) for item, text in opened if item.status is not CareStatus.CLOSED]
        resealing.reseal_opened(db, keyring, actor, live, current)


def escalate_overdue(db: Session, *, minutes: int, now: dt.datetime | None = None) -> list[str]:
    """Escalate, once each, the urgent requests open and untaken for `minutes`; audited
    (by the system, no actor); the caller commits. Returns their uuids."""
    now = now or utcnow()
    due = db.scalars(
        select(CareRequest)
        .join(Source, Source.id == CareRequest.source_id)
        .where(
            and_(
                CareRequest.urgent.is_(True),
                CareRequest.status == CareStatus.OPEN,
                CareRequest.taken_by_id.is_(None),
                CareRequest.escalated_at.is_(None),
                CareRequest.created_at <= now - dt.timedelta(minutes=minutes),
                Source.deleted_at.is_(None),
            )
        )
        .order_by(CareRequest.id)
    ).all()
    for request in due:
        request.escalated_at = now
        audit.record(db, None, "care_request_escalated", "care_request", request.uuid)
    return [request.uuid for request in due]
