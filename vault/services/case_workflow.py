"""The case status workflow: which moves are allowed and which need a reason.

Reasons are codes from fixed lists, not free text: a typed reason would be plaintext
about an incident sitting in a database column (and in every backup of it). What a
reviewer wants to say in their own words goes into an encrypted note.

The status also follows the case's referrals (`follow_referral`), so that referring
does not take three separate moves:

- making a referral moves a new, triage or verified case to referred in one step
  (reason `referral_made`); a referred or judicial case stays where it is, and a closed
  or discarded one is not reopened by it;
- a referral declined (by the partner, or withdrawn by an analyst) sends a referred case
  back to verified (reason `referral_declined`), to refer it elsewhere, unless another
  referral of the case is still proposed, accepted or in progress;
- the partner accepting, starting or completing changes nothing: closing stays an
  analyst's decision (a judicial file may follow, and closed cases fall under
  retention), so a case whose referrals are all completed is offered "close, referral
  completed" first (`suggested_move`), never closed on the partner's word.

A case may be opened at a later status than new (`CREATION_STATUSES`: whoever read the
source to open the case has triaged it already): the case walks the reason-free moves
from new to that status (`path_from_new`), each one recorded as any move is, so the
history and the audit log show every step and the workflow is never skipped.
"""

from __future__ import annotations

from vault.errors import VaultError
from vault.models import CaseStatus, ReferralStatus

__all__ = [
    "CLOSE_REASONS",
    "CREATION_STATUSES",
    "DISCARD_REASONS",
    "FOLLOW_REASONS",
    "REOPEN_REASONS",
    "InvalidTransitionError",
    "allowed_targets",
    "check_transition",
    "follow_referral",
    "path_from_new",
    "reasons_for",
    "suggested_move",
]

S = CaseStatus

DISCARD_REASONS = (
    "duplicate",
    "out_of_scope",
    "insufficient_information",
    "source_withdrew",
    "not_credible",
)
CLOSE_REASONS = (
    "resolved",
    "referral_completed",
    "judicial_concluded",
    "source_unreachable",
    "source_withdrew",
)
REOPEN_REASONS = ("new_information", "closed_in_error")
# Recorded on the moves a referral makes (never chosen in a form).
FOLLOW_REASONS = ("referral_made", "referral_declined")

_MOVES: dict[CaseStatus, tuple[CaseStatus, ...]] = {
    S.NEW: (S.TRIAGE, S.DISCARDED),
    S.TRIAGE: (S.VERIFIED, S.DISCARDED),
    S.VERIFIED: (S.REFERRED, S.JUDICIAL, S.CLOSED, S.DISCARDED),
    # A declined referral sends the case back to verified, to refer it elsewhere.
    S.REFERRED: (S.VERIFIED, S.JUDICIAL, S.CLOSED),
    S.JUDICIAL: (S.CLOSED,),
    S.CLOSED: (S.TRIAGE,),
    S.DISCARDED: (S.TRIAGE,),
}


# The statuses a case may be opened at (referred comes only from a referral made).
CREATION_STATUSES = (S.NEW, S.TRIAGE, S.VERIFIED, S.JUDICIAL)


class InvalidTransitionError(VaultError):
    """This status change is not part of the workflow, or its reason is missing/unknown."""


def allowed_targets(current: CaseStatus) -> tuple[CaseStatus, ...]:
    return _MOVES[current]


def reasons_for(current: CaseStatus, target: CaseStatus) -> tuple[str, ...]:
    """The reason codes this move requires; empty when it needs none."""
    if target is S.DISCARDED:
        return DISCARD_REASONS
    if target is S.CLOSED:
        return CLOSE_REASONS
    if current in (S.CLOSED, S.DISCARDED):
        return REOPEN_REASONS
    return ()


def check_transition(current: CaseStatus, target: CaseStatus, reason: str | None) -> str | None:
    """The reason to record, or InvalidTransitionError."""
    if target not in _MOVES[current]:
        raise InvalidTransitionError("transition not allowed")
    needed = reasons_for(current, target)
    if not needed:
        if reason:
            raise InvalidTransitionError("this transition takes no reason")
        return None
    if reason not in needed:
        raise InvalidTransitionError("a listed reason is required")
    return reason


def path_from_new(target: CaseStatus) -> list[CaseStatus]:
    """The statuses a new case goes through to reach `target` by reason-free moves, in
    order (empty for new itself); InvalidTransitionError unless `target` is one of
    CREATION_STATUSES. The shortest such path, found in the workflow's own moves."""
    if target not in CREATION_STATUSES:
        raise InvalidTransitionError("a case cannot be opened at this status")
    paths: dict[CaseStatus, list[CaseStatus]] = {S.NEW: []}
    frontier = [S.NEW]
    while frontier and target not in paths:
        current = frontier.pop(0)
        for step in _MOVES[current]:
            if step not in paths and not reasons_for(current, step):
                paths[step] = [*paths[current], step]
                frontier.append(step)
    return paths[target]


R = ReferralStatus
ACTIVE_REFERRALS = frozenset({R.PROPOSED, R.ACCEPTED, R.IN_PROGRESS})


def follow_referral(
    current: CaseStatus, referral: ReferralStatus, others_active: bool
) -> tuple[CaseStatus, str] | None:
    """The status (and reason code) a case moves to when one of its referrals becomes
    `referral` (PROPOSED: just made), or None when it stays. `others_active`: another
    referral of the case is still proposed, accepted or in progress."""
    if referral is R.PROPOSED and current in (S.NEW, S.TRIAGE, S.VERIFIED):
        return S.REFERRED, "referral_made"
    if referral is R.DECLINED and current is S.REFERRED and not others_active:
        return S.VERIFIED, "referral_declined"
    return None


def suggested_move(
    current: CaseStatus, referrals: list[ReferralStatus]
) -> tuple[CaseStatus, str] | None:
    """The move to offer first on the case page: closing a referred case whose referrals
    ended with at least one completed and none still active."""
    if (
        current is S.REFERRED
        and R.COMPLETED in referrals
        and not ACTIVE_REFERRALS.intersection(referrals)
    ):
        return S.CLOSED, "referral_completed"
    return None
