"""Errors of the onion package, rooted at `OnionError` (not the domain's VaultError)."""

from __future__ import annotations

__all__ = ["ClientAuthError", "OnionError", "TorConfigError", "TorNotFoundError", "TorStartError"]


class OnionError(Exception):
    """Base of every error raised while talking to, configuring or checking Tor."""


class TorNotFoundError(OnionError):
    """The tor executable is not installed (the apps then stay on 127.0.0.1)."""


class TorConfigError(OnionError):
    """A torrc would be invalid or unsafe; tor was not (re)configured with it."""


class TorStartError(OnionError):
    """tor did not start, or the onion services could not be published."""


class ClientAuthError(OnionError):
    """A reviewer client-authorization key could not be created, found or removed."""
