"""Fixtures shared by the integration tests."""

from tests.support.gpg_keyring import keyring, recipient

__all__ = ["keyring", "recipient"]
