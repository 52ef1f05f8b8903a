"""Codenames: real word list, enough entropy, stable peppered derivations."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterator

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

    def test_twelve_words(self) -> None:
        assert len(codenames.generate_codename(12).split()) == 12


def _draws(values: Iterator[int], log: list[int]) -> Callable[[int], bytes]:
    """A stand-in for the CSPRNG that hands out the given 16-bit values, in order."""

    def draw(size: int) -> bytes:
        log.append(size)
        return array("H", [next(values) for _ in range(size // 2)]).tobytes()

    return draw


class TestUniformIndices:
    def test_every_index_is_equally_likely(self) -> None:
        """Fed every 16-bit value once, the sampler gives each of the 7,776 indices
        exactly as often (8 times): no index is favoured, the rest is refused."""
        every = list(range(1 << 16))
        kept = 62_208  # the largest multiple of 7,776 below 65,536
        indices = codenames.uniform_indices(kept, 7776, _draws(iter([*every, 0, 0]), []))
        assert set(Counter(indices).values()) == {8}
        assert indices == [value % 7776 for value in every[:kept]]

    def test_draws_at_or_past_the_limit_are_refused_and_more_read(self) -> None:
        log: list[int] = []
        refused = [62_208, 65_535] * 5
        values = iter([*refused, 1, 7777, 62_207, 3, 4, 5, 6, 7, 8, 9, 10, 11])
        indices = codenames.uniform_indices(7, 7776, _draws(values, log))
        assert indices == [1, 1, 62_207 % 7776, 3, 4, 5, 6]
        # 7 wanted + 2 spare, all 9 refused; then 7 + 2 again, the first one refused.
        assert log == [18, 18]

    @pytest.mark.parametrize("size", [0, -1, (1 << 16) + 1])
    def test_sizes_a_draw_cannot_cover_are_refused(self, size: int) -> None:
        with pytest.raises(ValueError):
            codenames.uniform_indices(7, size)

    def test_a_power_of_two_refuses_nothing(self) -> None:
        log: list[int] = []
        indices = codenames.uniform_indices(3, 1 << 16, _draws(iter([65_535, 0, 7, 9, 9]), log))
        assert indices == [65_535, 0, 7] and log == [10]


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
