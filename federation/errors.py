"""Errors of the federation package, rooted at `FederationError` (not the domain's)."""

from __future__ import annotations

__all__ = ["DeliveryError", "EnvelopeRefusedError", "FederationError", "IdentityError"]


class FederationError(Exception):
    """Base of every error raised while federating with another instance."""


class IdentityError(FederationError):
    """This instance's federation keys are missing, unreadable or exposed."""


class DeliveryError(FederationError):
    """An envelope did not reach a peer, or the peer did not accept it."""


class EnvelopeRefusedError(FederationError):
    """An envelope was refused; `reason` is one fixed word (REFUSAL_REASONS in
    federation.envelope) and is all that is audited or told to the sender."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
