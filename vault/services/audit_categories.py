"""Audit actions grouped into the categories an admin filters by.

Action names are fixed identifiers chosen where the event is recorded; new ones appear
as features land. A category is therefore a set of exact names plus name prefixes
(`case_…` is about cases), and anything that matches none is "other": an unknown
action is still shown and still found, never dropped.

`category_of` (one name, in Python) and `condition` (a SQL filter) say the same thing:
an exact name wins over every prefix, and no prefix of one category starts a prefix of
another (checked in tests), so at most one prefix matches.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, not_, or_

from vault.models import AuditEvent

__all__ = ["CATEGORIES", "OTHER", "category_of", "condition"]

OTHER = "other"

# category -> (exact action names, name prefixes). Order is the order of the filter.
_RULES: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "cases": (
        frozenset({"dashboard_viewed"}),
        ("case_", "cases_", "consent_"),
    ),
    "sources": (
        frozenset({"item_exported", "export_created"}),
        ("source_", "sources_", "submission_", "submissions_", "conversation_"),
    ),
    "replies": (frozenset(), ("reply_", "replies_")),
    "referrals": (frozenset(), ("referral_", "referrals_", "partner_", "directory_")),
    "accounts": (
        frozenset({"login", "logout", "passphrase_reset", "totp_reset", "role_changed"}),
        ("login_", "reviewer_", "reviewers_", "account_", "accounts_", "api_token_"),
    ),
    "care": (frozenset(), ("care_",)),
    "admin": (
        frozenset({"access_denied"}),
        ("admin_", "audit_", "retention_", "observatory_", "federation_"),
    ),
}
CATEGORIES: tuple[str, ...] = (*_RULES, OTHER)
_EXACT = {name: category for category, (names, _p) in _RULES.items() for name in names}


def category_of(action: str) -> str:
    """The category an action name belongs to (`OTHER` when no rule names it)."""
    if action in _EXACT:
        return _EXACT[action]
    for category, (_names, prefixes) in _RULES.items():
        if action.startswith(prefixes):
            return category
    return OTHER


def _prefixed(prefixes: tuple[str, ...]) -> ColumnElement[bool]:
    # autoescape: "_" is a LIKE wildcard, and "case_" must not match "cases".
    return or_(false(), *(AuditEvent.action.startswith(p, autoescape=True) for p in prefixes))


def condition(category: str) -> ColumnElement[bool]:
    """A WHERE clause selecting the events of `category` (nothing for an unknown one)."""
    if category == OTHER:
        every = tuple(p for _names, prefixes in _RULES.values() for p in prefixes)
        return and_(AuditEvent.action.not_in(_EXACT), not_(_prefixed(every)))
    if category not in _RULES:
        return false()
    names, prefixes = _RULES[category]
    return or_(
        AuditEvent.action.in_(names),
        and_(AuditEvent.action.not_in(_EXACT), _prefixed(prefixes)),
    )


def _rules() -> dict[str, tuple[frozenset[str], tuple[str, ...]]]:
    """The rules themselves (for the tests that check they stay unambiguous)."""
    return _RULES
