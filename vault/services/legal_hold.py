"""Legal hold: a case whose material must be preserved (a court, a prosecutor, counsel
asked for it) is exempt from automatic deletion until the hold is lifted.

- Set and lifted by an admin (reviewer interface) or the operator at the server's
  console (`backupctl hold`, actor None). Partners never work cases, and there is no
  separate legal role: a legal partner asks an admin.
- Who and when are columns; why is free text (it may name people), sealed with the
  column key and bound to the case's uuid. Audit events carry the case's uuid only.
- Retention (`vault.services.retention`) skips every source linked to a held case, or
  with a submission linked to one, whatever the case's status: `held_source` is its
  SQL condition.

The caller owns the transaction: nothing here commits, except the record of a refused
attempt (`require_admin_audited`), which must outlive the failed request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from vault.column_key import LEGAL_HOLD_REASON, column_key_of
from vault.errors import NotFoundError, VaultError
from vault.models import Case, CaseSource, CaseSubmission, LegalHold, Reviewer, Source, Submission
from vault.services import audit
from vault.services.audit_log import require_admin_audited

__all__ = [
    "REASON_MAX",
    "AlreadyHeldError",
    "HoldView",
    "InvalidReasonError",
    "LegalHoldError",
    "NotHeldError",
    "held_among",
    "held_cases",
    "held_source",
    "hold_of",
    "lift",
    "place",
]

REASON_MAX = 1000


class LegalHoldError(VaultError):
    """A hold was not set or lifted."""


class AlreadyHeldError(LegalHoldError):
    """The case is already under legal hold."""


class NotHeldError(LegalHoldError):
    """The case is not under legal hold."""


class InvalidReasonError(LegalHoldError):
    """No reason, or one over REASON_MAX characters."""


@dataclass(frozen=True)
class HoldView:
    case_uuid: str
    reference: str
    set_at: dt.datetime
    set_by: str | None  # the username; None: the operator at the console
    reason: str


def _case(db: Session, case_uuid: str) -> Case:
    case = db.scalar(select(Case).where(Case.uuid == case_uuid))
    if case is None:
        raise NotFoundError("no such case")
    return case


def _require(db: Session, actor: Reviewer | None) -> None:
    if actor is not None:
        require_admin_audited(db, actor, "legal_hold")


def place(db: Session, actor: Reviewer | None, case_uuid: str, reason: str) -> LegalHold:
    """Put a case under legal hold, with why (sealed); audited."""
    _require(db, actor)
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidReasonError(f"give a reason of 1 to {REASON_MAX} characters")
    case = _case(db, case_uuid)
    if db.get(LegalHold, case.id) is not None:
        raise AlreadyHeldError("this case is already under legal hold")
    hold = LegalHold(
        case_id=case.id,
        set_by_id=actor.id if actor is not None else None,
        reason_sealed=column_key_of(db).seal(reason, LEGAL_HOLD_REASON, case.uuid),
    )
    db.add(hold)
    audit.record(db, actor, "case_legal_hold_set", "case", case.uuid)
    db.flush()
    return hold


def lift(db: Session, actor: Reviewer | None, case_uuid: str) -> None:
    """Lift a case's legal hold; audited. Automatic deletion applies again from now."""
    _require(db, actor)
    case = _case(db, case_uuid)
    hold = db.get(LegalHold, case.id)
    if hold is None:
        raise NotHeldError("this case is not under legal hold")
    since = hold.set_at.isoformat(timespec="seconds")
    db.delete(hold)
    audit.record(db, actor, "case_legal_hold_lifted", "case", case.uuid, {"held_since": since})
    db.flush()


def _view(db: Session, case: Case, hold: LegalHold) -> HoldView:
    return HoldView(
        case_uuid=case.uuid,
        reference=case.reference,
        set_at=hold.set_at,
        set_by=hold.set_by.username if hold.set_by is not None else None,
        reason=column_key_of(db).open(hold.reason_sealed, LEGAL_HOLD_REASON, case.uuid),
    )


def hold_of(db: Session, case: Case) -> HoldView | None:
    """The case's hold, reason opened (for those who may see the case), or None."""
    hold = db.get(LegalHold, case.id)
    return None if hold is None else _view(db, case, hold)


def held_cases(db: Session) -> list[HoldView]:
    """Every hold in force, oldest first (for the operator's console)."""
    rows = db.execute(
        select(Case, LegalHold)
        .join(LegalHold, LegalHold.case_id == Case.id)
        .order_by(LegalHold.set_at)
    ).all()
    return [_view(db, case, hold) for case, hold in rows]


def held_among(db: Session, case_ids: Collection[int]) -> set[int]:
    """Which of these cases are under legal hold (one query, for a list page)."""
    if not case_ids:
        return set()
    return set(db.scalars(select(LegalHold.case_id).where(LegalHold.case_id.in_(case_ids))))


def held_source() -> ColumnElement[bool]:
    """SQL: this `Source` row is in a held case, or sent a submission that is."""
    linked = exists().where(
        CaseSource.source_id == Source.id, CaseSource.case_id == LegalHold.case_id
    )
    item_linked = exists().where(
        Submission.source_id == Source.id,
        CaseSubmission.submission_id == Submission.id,
        CaseSubmission.case_id == LegalHold.case_id,
    )
    return or_(linked, item_linked)
