"""Audit actions fall into the categories admins filter by, unambiguously."""

from __future__ import annotations

import pytest

from journalist_app.audit_labels import _ACTIONS
from vault.services import audit_categories
from vault.services.audit_categories import OTHER, category_of


class TestCategories:
    """The rules map each action name to exactly one category."""

    def test_no_prefix_starts_another_categorys_prefix(self) -> None:
        """So the SQL filter (prefix OR prefix) and `category_of` (first match) agree."""
        rules = audit_categories._rules()
        for category, (_names, prefixes) in rules.items():
            for other, (_o, other_prefixes) in rules.items():
                if other == category:
                    continue
                for mine in prefixes:
                    assert not any(theirs.startswith(mine) for theirs in other_prefixes)

    def test_exact_names_belong_to_one_category(self) -> None:
        seen: list[str] = []
        for names, _prefixes in audit_categories._rules().values():
            seen += names
        assert len(seen) == len(set(seen))

    @pytest.mark.parametrize(
        ("action", "category"),
        [
            ("case_created", "cases"),
            ("cases_listed", "cases"),
            ("consent_refused_refer_partner", "cases"),
            ("source_viewed", "sources"),
            ("sources_listed", "sources"),
            ("item_exported", "sources"),
            ("reply_sent", "replies"),
            ("referral_created", "referrals"),
            ("partner_org_created", "referrals"),
            ("login", "accounts"),
            ("login_failed", "accounts"),
            ("totp_reset", "accounts"),
            ("care_request_taken", "care"),
            ("audit_viewed", "admin"),
            ("access_denied", "admin"),
            ("retention_applied", "admin"),
            ("telescope_polished", OTHER),
            ("casework", OTHER),  # "case_" is a prefix with its underscore
        ],
    )
    def test_category_of(self, action: str, category: str) -> None:
        assert category_of(action) == category

    def test_every_action_with_words_has_a_category(self) -> None:
        """An action the page names in words is never filed under "other"."""
        assert [a for a in _ACTIONS if category_of(a) == OTHER] == []
