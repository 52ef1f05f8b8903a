"""The care queue: open care requests for the on-duty team, and what they do with one.

Each request is opened in memory with the key passphrase of the reviewer's session and
never stored in clear. Actions (take, answer, refer, close) reuse the existing flows:
the reply channel (vault.services.replies.reply_to_source) and referrals
(vault.services.referrals.create_referral, with its consent check). Answering an
untaken request takes it; answering one a colleague holds is refused
(TakenByOtherError): take it over first. An answer may also refer the source in the
same step (`answer_and_refer`: the referral first, with its checks, then the answer).
Every view and action is audited by uuid only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.db import utcnow
from vault.errors import EmptySubmissionError, NotFoundError, VaultError
from vault.models import (
    CareRequest,
    CareStatus,
    Case,
    CaseStatus,
    Referral,
    Reply,
    Reviewer,
    Source,
)
from vault.ports import Keyring
from vault.services import audit, care, cases, consents, referrals, replies, resealing
from vault.services.care import InvalidCareInputError
from vault.store import Store

__all__ = [
    "QUEUE_PAGE",
    "CareLockedError",
    "CarePage",
    "CareView",
    "InvalidCareInputError",
    "NotSealedToYouError",
    "TakenByOtherError",
    "answer",
    "answer_and_refer",
    "close",
    "get_request",
    "has_untaken",
    "list_queue",
    "open_request",
    "queue_key",
    "queue_order",
    "refer",
    "take",
]

_CLOSED_CASES = (CaseStatus.CLOSED, CaseStatus.DISCARDED)
# Requests opened (decrypted) per page load: a flood of requests costs each load at most
# this many decryptions instead of one per waiting request.
QUEUE_PAGE = 20


class CareLockedError(VaultError):
    """The session holds no unlocked account key (log in again)."""


class NotSealedToYouError(VaultError):
    """The care request is not sealed to this account's key (not now)."""


class TakenByOtherError(InvalidCareInputError):
    """A colleague holds the request: it is theirs to answer, unless taken over."""

    def __init__(self, holder: str) -> None:
        super().__init__("taken by another reviewer")
        self.holder = holder


@dataclass(frozen=True)
class CareView:
    """A care request and, if this account's key opens it, its ASSIST answers."""

    request: CareRequest
    assist: Mapping[str, Any] | None  # None: not sealed to this account's key
    language: str | None

    @property
    def source_uuid(self) -> str:
        return self.request.source.uuid

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - self.request.created_at

    @property
    def consent(self) -> Mapping[str, Any]:
        consent = (self.assist or {}).get("consent")
        return consent if isinstance(consent, Mapping) else {}


@dataclass(frozen=True)
class CarePage:
    """One page of the queue: its requests opened, and where it sits in the whole."""

    views: list[CareView]
    page: int
    pages: int
    total: int


def queue_key(urgent: bool, created_at: dt.datetime, request_id: int) -> tuple[int, float, int]:
    """One source's order: urgent first, then oldest first (ties: first recorded)."""
    return (0 if urgent else 1, created_at.timestamp(), request_id)


class _Queued(Protocol):
    """What ordering needs of a request (a CareRequest, or a row of these columns)."""

    @property
    def id(self) -> int: ...
    @property
    def source_id(self) -> int: ...
    @property
    def urgent(self) -> bool: ...
    @property
    def created_at(self) -> dt.datetime: ...


_Q = TypeVar("_Q", bound=_Queued)


def queue_order(requests: Sequence[_Q]) -> list[_Q]:
    """The queue's order: sources take turns, so that a flood from one codename cannot
    bury anyone else's request. Every source's first waiting request (by `queue_key`)
    comes before anyone's second; within a turn, urgent first, then oldest first."""
    by_source: dict[int, list[_Q]] = {}
    for request in requests:
        by_source.setdefault(request.source_id, []).append(request)
    turn: dict[int, int] = {}
    for own in by_source.values():
        own.sort(key=lambda r: queue_key(r.urgent, r.created_at, r.id))
        turn.update((r.id, index) for index, r in enumerate(own))
    return sorted(requests, key=lambda r: (turn[r.id], *queue_key(r.urgent, r.created_at, r.id)))


def _view(request: CareRequest, text: str | None) -> CareView:
    if text is None:
        return CareView(request, None, None)
    try:
        document = json.loads(text)
    except ValueError:
        return CareView(request, None, None)
    assist = document.get("assist") if isinstance(document, dict) else None
    language = document.get("language") if isinstance(document, dict) else None
    return CareView(
        request,
        assist if isinstance(assist, dict) else None,
        language if isinstance(language, str) else None,
    )


def _open(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    requests: Iterable[CareRequest],
    key: str | None,
    submission_fingerprint: str,
) -> list[CareView]:
    if not key:
        raise CareLockedError("no unlocked key in this session")
    opened = resealing.open_each(keyring, list(requests), key)
    care.reseal_opened_care(db, keyring, actor, opened, submission_fingerprint)
    return [_view(request, text) for request, text in opened]


def list_queue(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    key: str | None,
    submission_fingerprint: str,
    page: int = 1,
) -> CarePage:
    """Open and taken requests of live sources in queue order (`queue_order`); only
    the requested page's are opened. Audited."""
    care.require_care_member(db, actor)
    if key:
        care.reseal_pending_care(db, keyring, actor, key, submission_fingerprint)
    # Ordered from the few columns it needs; only the page's rows (and ciphertexts) load.
    waiting = db.execute(
        select(CareRequest.id, CareRequest.source_id, CareRequest.urgent, CareRequest.created_at)
        .join(Source, Source.id == CareRequest.source_id)
        .where(CareRequest.status != CareStatus.CLOSED, Source.deleted_at.is_(None))
    ).all()
    ordered = queue_order(waiting)
    pages = max(1, -(-len(ordered) // QUEUE_PAGE))
    page = min(max(page, 1), pages)
    ids = [row.id for row in ordered[(page - 1) * QUEUE_PAGE : page * QUEUE_PAGE]]
    loaded = {r.id: r for r in db.scalars(select(CareRequest).where(CareRequest.id.in_(ids)))}
    shown = [loaded[i] for i in ids]
    views = _open(db, keyring, actor, shown, key, submission_fingerprint)
    audit.record(db, actor, "care_queue_viewed")
    return CarePage(views, page, pages, len(ordered))


def has_untaken(db: Session, actor: Reviewer) -> bool:
    """Whether a request of a live source waits untaken and `actor` may see the queue
    (where the reviewer lands after login). Not audited: it reveals no request."""
    if not care.is_care_member(db, actor):
        return False
    waiting = (
        select(CareRequest.id)
        .join(Source, Source.id == CareRequest.source_id)
        .where(CareRequest.status == CareStatus.OPEN, Source.deleted_at.is_(None))
        .limit(1)
    )
    return db.scalar(waiting) is not None


def get_request(db: Session, actor: Reviewer, request_uuid: str) -> CareRequest:
    care.require_care_member(db, actor, request_uuid)
    request = db.scalar(
        select(CareRequest)
        .join(Source, Source.id == CareRequest.source_id)
        .where(CareRequest.uuid == request_uuid, Source.deleted_at.is_(None))
    )
    if request is None:
        raise NotFoundError("no such care request")
    return request


def open_request(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    request_uuid: str,
    key: str | None,
    submission_fingerprint: str,
) -> CareView:
    request = get_request(db, actor, request_uuid)
    (view,) = _open(db, keyring, actor, [request], key, submission_fingerprint)
    audit.record(db, actor, "care_request_viewed", "care_request", request.uuid)
    return view


def _mark_taken(db: Session, actor: Reviewer, request: CareRequest) -> None:
    request.status = CareStatus.TAKEN
    request.taken_by_id = actor.id
    request.taken_at = utcnow()
    audit.record(db, actor, "care_request_taken", "care_request", request.uuid)


def _require_not_held_by_other(request: CareRequest, actor: Reviewer) -> None:
    holder = request.taken_by
    if request.status is CareStatus.TAKEN and holder is not None and holder.id != actor.id:
        raise TakenByOtherError(holder.username)


def held_by_other(request: CareRequest, actor: Reviewer) -> str | None:
    """The username of the colleague holding the request, if not `actor` (for the page)."""
    try:
        _require_not_held_by_other(request, actor)
    except TakenByOtherError as held:
        return held.holder
    return None


def take(db: Session, actor: Reviewer, request_uuid: str) -> CareRequest:
    """Assign the request to `actor` (also when a colleague had taken it)."""
    request = get_request(db, actor, request_uuid)
    if request.status is CareStatus.CLOSED:
        raise InvalidCareInputError("closed")
    _mark_taken(db, actor, request)
    return request


def close(db: Session, actor: Reviewer, request_uuid: str) -> CareRequest:
    request = get_request(db, actor, request_uuid)
    if request.status is not CareStatus.CLOSED:
        request.status = CareStatus.CLOSED
        request.closed_at = utcnow()
        audit.record(db, actor, "care_request_closed", "care_request", request.uuid)
    return request


def answer(
    db: Session,
    store: Store,
    keyring: Keyring,
    actor: Reviewer,
    request_uuid: str,
    text: str,
    submission_fingerprint: str,
) -> Reply:
    """Reply to the source through the usual channel; an untaken request becomes the
    answerer's (audited as a take). EmptySubmissionError if the text is empty or too
    long; TakenByOtherError, nothing sent, when a colleague holds the request."""
    request = get_request(db, actor, request_uuid)
    _require_not_held_by_other(request, actor)
    source_uuid = request.source.uuid
    if request.status is CareStatus.OPEN:
        _mark_taken(db, actor, request)
    audit.record(db, actor, "care_request_answered", "care_request", request.uuid)
    # reply_to_source commits these events with the reply, or rolls them back with it.
    return replies.reply_to_source(
        db, store, keyring, actor, source_uuid, text, submission_fingerprint
    )


def _case_for(db: Session, actor: Reviewer, request: CareRequest) -> Case:
    """The source's most recent case still worked on, else a new one."""
    live = [
        case
        for case in cases.cases_for_source(db, actor, request.source.uuid)
        if case.status not in _CLOSED_CASES
    ]
    if live:
        return live[-1]
    return cases.create_case(db, actor, [request.source.uuid], urgent_medical=request.urgent)


def refer(
    db: Session,
    keyring: Keyring,
    actor: Reviewer,
    request_uuid: str,
    org_uuid: str,
    key: str | None,
    submission_fingerprint: str,
) -> Referral:
    """Refer the source to a partner in one step, with the consents the source gave in
    the request itself (read here, in memory; the form cannot claim them).

    Raises NotSealedToYouError when this key does not open the request, and
    referrals.ConsentRequiredError when the source did not consent to a referral.
    """
    view = open_request(db, keyring, actor, request_uuid, key, submission_fingerprint)
    if view.assist is None:
        raise NotSealedToYouError("not sealed to this account's key")
    case = _case_for(db, actor, view.request)
    # The request's consent becomes the source's recorded state (a use it leaves "as
    # before" keeps its recorded answer), unless a later one is recorded already: then
    # that one decides. create_referral refuses, audited, unless the state says yes.
    # Contact by the partner comes from the same state (referrals.contact_allowed).
    consents.record_care_consent(db, actor, case.uuid, view.request, view.consent)
    referral = referrals.create_referral(db, actor, case.uuid, org_uuid, view.source_uuid)
    request = get_request(db, actor, request_uuid)
    if request.status is CareStatus.OPEN:
        _mark_taken(db, actor, request)
    audit.record(db, actor, "care_request_referred", "care_request", request.uuid)
    return referral


def answer_and_refer(
    db: Session,
    store: Store,
    keyring: Keyring,
    actor: Reviewer,
    request_uuid: str,
    text: str,
    org_uuid: str,
    key: str | None,
    submission_fingerprint: str,
) -> tuple[Reply, Referral]:
    """The answer form with a partner chosen: refer (`refer`, with every check of the
    refer form: the source's consent to a referral, the key that opens the request),
    then answer (`answer`). A refused referral sends nothing; TakenByOtherError,
    nothing done, when a colleague holds the request. The answer's text is checked
    first (EmptySubmissionError), so that a referral never goes without it."""
    request = get_request(db, actor, request_uuid)
    _require_not_held_by_other(request, actor)
    if not text.strip() or len(text.strip()) > replies.MAX_REPLY_CHARS:
        raise EmptySubmissionError("empty or too long")
    referral = refer(db, keyring, actor, request_uuid, org_uuid, key, submission_fingerprint)
    reply = answer(db, store, keyring, actor, request_uuid, text, submission_fingerprint)
    return reply, referral
