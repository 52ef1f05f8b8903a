"""Codenames: real word list, enough entropy, stable peppered derivations."""

from __future__ import annotations

import pytest

from vault import codenames
from vault.config import ScryptParams
from vault.errors import InvalidCodenameError

FAST = ScryptParams(n=16)


class TestWordList:
    def test_eff_large_list(self) -> None:
        words = codenames.codename_words()
        assert len(words) == 7776
        assert len(set(words)) == 7776
        assert "abacus" in words

    def test_seven_words_give_ninety_bits(self) -> None:
        assert codenames.entropy_bits(7) >= 90


class TestGenerate:
    def test_default_has_seven_known_words(self) -> None:
        codename = codenames.generate_codename()
        words = codename.split()
        assert len(words) == 7
        assert set(words) <= set(codenames.codename_words())

    def test_draws_differ(self) -> None:
        assert len({codenames.generate_codename() for _ in range(50)}) == 50

    def test_refuses_fewer_than_seven(self) -> None:
        with pytest.raises(ValueError):
            codenames.generate_codename(6)


class TestNormalize:
    def test_forgives_case_and_spacing(self) -> None:
        codename = codenames.generate_codename()
        messy = "  " + codename.upper().replace(" ", "   ") + "\n"
        assert codenames.normalize_codename(messy) == codename

    @pytest.mark.parametrize(
        "raw",
        ["", "abacus", "abacus " * 6, "abacus " * 13, "notaword " * 7, "x" * 10_000],
    )
    def test_rejects_malformed(self, raw: str) -> None:
        with pytest.raises(InvalidCodenameError):
            codenames.normalize_codename(raw)


class TestDerivation:
    def test_deterministic_and_peppered(self) -> None:
        codename = codenames.generate_codename()
        a = codenames.lookup_id(codename, b"pepper-a", FAST)
        assert a == codenames.lookup_id(codename, b"pepper-a", FAST)
        assert a != codenames.lookup_id(codename, b"pepper-b", FAST)
        assert len(a) == 64
        assert codename not in a

    def test_lookup_and_key_passphrase_differ(self) -> None:
        codename = codenames.generate_codename()
        assert codenames.lookup_id(codename, b"p1", FAST) != codenames.reply_key_passphrase(
            codename, b"p2", FAST
        )

    def test_production_cost_is_the_default(self) -> None:
        assert ScryptParams().n >= 2**14


def test_designation_is_two_words() -> None:
    adjective, noun = codenames.generate_designation().split(" ")
    adjectives, nouns = codenames.designation_words()
    assert adjective in adjectives
    assert noun in nouns
