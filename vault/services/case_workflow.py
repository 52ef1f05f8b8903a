"""The case status workflow: which moves are allowed and which need a reason.

Reasons are codes from fixed lists, not free text: a typed reason would be plaintext
about an incident sitting in a database column (and in every backup of it). What a
reviewer wants to say in their own words goes into an encrypted note.
"""

from __future__ import annotations

from vault.errors import VaultError
from vault.models import CaseStatus

__all__ = [
    "CLOSE_REASONS",
    "DISCARD_REASONS",
    "REOPEN_REASONS",
    "InvalidTransitionError",
    "allowed_targets",
    "check_transition",
    "reasons_for",
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
