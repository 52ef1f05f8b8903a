"""The production Host check: which Host headers an app answers (pure logic)."""

from __future__ import annotations

import pytest

from web_shared.security import host_allowed

ONION = "a" * 56 + ".onion"


class TestHostAllowed:
    """Only the configured onion name and the local names pass."""

    @pytest.mark.parametrize(
        "host",
        [ONION, f"{ONION}:80", ONION.upper(), f"{ONION}.", "localhost", "127.0.0.1:8080"],
    )
    def test_own_onion_and_local_names_pass(self, host: str) -> None:
        assert host_allowed(host, ONION)

    @pytest.mark.parametrize(
        "host",
        [
            "b" * 56 + ".onion",
            f"x.{ONION}",
            f"{ONION}.example.org",
            "example.org",
            "10.0.0.1",
            "",
            "[::1]:80",
            f"{ONION}:80:80",
        ],
    )
    def test_other_names_are_refused(self, host: str) -> None:
        assert not host_allowed(host, ONION)

    def test_without_an_onion_host_only_local_names_pass(self) -> None:
        assert host_allowed("localhost:8081", None)
        assert not host_allowed(ONION, None)
