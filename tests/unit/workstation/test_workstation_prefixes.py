"""Short prefixes for item ids and fingerprints: one match or a clear refusal."""

from __future__ import annotations

import pytest

from workstation.errors import WorkstationError
from workstation.prefixes import (
    MIN_FINGERPRINT_CHECK,
    AmbiguousPrefixError,
    PrefixError,
    UnknownPrefixError,
    check_fingerprint,
    names_fingerprint,
    normalise_fingerprint,
    resolve_fingerprint,
    resolve_prefix,
)

IDS = {
    "3f2a9c1e-0000-4000-8000-000000000001": "1-sober_moth-msg.gpg (message)",
    "3f2a9c1e-1111-4000-8000-000000000002": "2-sober_moth-doc.gz.gpg (file)",
    "9b7d0c44-2222-4000-8000-000000000003": "3-sober_moth-reply.gpg (reply)",
}
FPR = "AB12CD34EF56" + "0" * 52


class TestResolvePrefix:
    """Choosing among the workspace's items by a unique prefix of 8+ characters."""

    def test_unique_prefix(self) -> None:
        assert resolve_prefix("9b7d0c44", IDS) == "9b7d0c44-2222-4000-8000-000000000003"

    def test_whole_id_and_case_and_spaces(self) -> None:
        whole = "3f2a9c1e-0000-4000-8000-000000000001"
        assert resolve_prefix(whole, IDS) == whole
        assert resolve_prefix(" 9B7D0C44 ", IDS).startswith("9b7d0c44")

    def test_ambiguous_lists_every_candidate(self) -> None:
        with pytest.raises(AmbiguousPrefixError) as caught:
            resolve_prefix("3f2a9c1e", IDS)
        message = str(caught.value)
        assert "3f2a9c1e: ambiguous item id: 2 start with it" in message
        assert "3f2a9c1e-0000-4000-8000-000000000001  1-sober_moth-msg.gpg" in message
        assert "3f2a9c1e-1111-4000-8000-000000000002  2-sober_moth-doc.gz.gpg" in message
        assert "9b7d0c44" not in message
        assert resolve_prefix("3f2a9c1e-1", IDS).endswith("0002")  # one more character

    def test_unknown(self) -> None:
        with pytest.raises(UnknownPrefixError, match="00000000: no item id starts with this"):
            resolve_prefix("00000000", IDS)

    def test_too_short(self) -> None:
        with pytest.raises(PrefixError, match="at least 8 characters"):
            resolve_prefix("9b7d0c", IDS)

    def test_errors_are_workstation_errors(self) -> None:
        """So `backupctl` prints one clear line, not a traceback."""
        assert issubclass(AmbiguousPrefixError, WorkstationError)
        assert issubclass(UnknownPrefixError, WorkstationError)

    def test_plain_iterable(self) -> None:
        assert resolve_prefix("9b7d0c44", list(IDS)).endswith("0003")


class TestFingerprints:
    """Checking a key against a published fingerprint: 16 characters at least."""

    def test_grouped_lowercase_prefix(self) -> None:
        assert normalise_fingerprint("ab12 cd34-ef56") == "AB12CD34EF56"
        assert check_fingerprint("ab12 cd34 ef56 0000", FPR, "receipt key")
        assert not check_fingerprint("ab12 cd34 ef56 0001", FPR, "receipt key")
        assert check_fingerprint(FPR, FPR, "receipt key")

    def test_short_prefix_refused(self) -> None:
        with pytest.raises(PrefixError, match=f"at least {MIN_FINGERPRINT_CHECK} characters"):
            check_fingerprint("AB12CD34", FPR, "receipt key")
        assert not names_fingerprint("AB12CD34", FPR)  # names no key, rather than any


# Two keys sharing their first 16 characters (no real pair does: 64 bits), and a third.
TWINS = {
    "0123456789ABCDEF" + "1" * 24: "Submission key <ws@example.org>",
    "0123456789ABCDEF" + "2" * 24: "Forged <x@example.org>",
    "FEDCBA9876543210" + "3" * 24: "Receipt <r@example.org>",
}


class TestResolveFingerprint:
    """Choosing a key in a GnuPG home: a unique prefix of 16+ hex characters."""

    def test_unique_prefix_grouped_or_lowercase(self) -> None:
        third = "FEDCBA9876543210" + "3" * 24
        assert resolve_fingerprint("FEDCBA9876543210", TWINS) == third
        assert resolve_fingerprint("fedc ba98 7654 3210", TWINS) == third
        assert resolve_fingerprint("0123456789abcdef1", list(TWINS)).endswith("1111")

    def test_whole_fingerprint(self) -> None:
        whole = "0123456789ABCDEF" + "2" * 24
        assert resolve_fingerprint(whole.lower(), TWINS) == whole

    def test_ambiguous_lists_both_with_their_user_ids(self) -> None:
        with pytest.raises(AmbiguousPrefixError) as caught:
            resolve_fingerprint("0123 4567 89AB CDEF", TWINS)
        message = str(caught.value)
        assert "ambiguous key fingerprint: 2 start with it; type more characters" in message
        assert "0123456789ABCDEF" + "1" * 24 + "  Submission key <ws@example.org>" in message
        assert "0123456789ABCDEF" + "2" * 24 + "  Forged <x@example.org>" in message
        assert "FEDCBA98" not in message
        assert len(caught.value.candidates) == 2

    def test_too_short_even_if_unique(self) -> None:
        """8 characters would name one key here, but a forged key could match them."""
        with pytest.raises(PrefixError, match="type at least 16 characters"):
            resolve_fingerprint("FEDCBA98", TWINS)

    def test_unknown_and_not_hex(self) -> None:
        with pytest.raises(UnknownPrefixError, match="no key here has a fingerprint"):
            resolve_fingerprint("ABCDEF0123456789", TWINS)
        with pytest.raises(PrefixError, match="not a fingerprint"):
            resolve_fingerprint("0123456789ABCDEG", TWINS)
        with pytest.raises(PrefixError, match="not a fingerprint"):
            resolve_fingerprint("", TWINS)
