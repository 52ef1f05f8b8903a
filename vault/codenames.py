"""Diceware codenames for sources and their slow, peppered derivations.

The codename is the source's only credential and is never stored. What the server keeps
is `scrypt(codename, pepper)`: one derivation is the lookup id, another the passphrase of
the source's reply key. Word lists come from the `diceware` package (EFF large list,
7,776 words: 7 words give log2(7776)*7 ≈ 90.5 bits).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from functools import cache
from importlib import resources

from vault.config import ScryptParams
from vault.errors import InvalidCodenameError

MIN_WORDS = 7
MAX_WORDS = 12
MAX_CODENAME_CHARS = 256


def _read_list(name: str) -> tuple[str, ...]:
    text = (resources.files("diceware") / "wordlists" / name).read_text("utf-8")
    words = [line.split()[-1] for line in text.splitlines() if line.strip()]
    return tuple(words)


@cache
def codename_words() -> tuple[str, ...]:
    words = _read_list("wordlist_en_eff.txt")
    if len(set(words)) != 7776:
        raise RuntimeError("EFF large word list must hold 7,776 distinct words")
    return words


@cache
def _codename_set() -> frozenset[str]:
    return frozenset(codename_words())


@cache
def designation_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _read_list("wordlist_en_adjectives.txt"), _read_list("wordlist_en_nouns.txt")


def entropy_bits(words: int) -> float:
    return words * math.log2(len(codename_words()))


def generate_codename(words: int = MIN_WORDS) -> str:
    if words < MIN_WORDS:
        raise ValueError("codenames need at least 7 words")
    wordlist = codename_words()
    return " ".join(wordlist[index] for index in uniform_indices(words, len(wordlist)))


_DRAW = 1 << 16  # each draw: 16 bits of the system CSPRNG


def uniform_indices(
    count: int, size: int, draw: Callable[[int], bytes] = secrets.token_bytes
) -> list[int]:
    """`count` independent indices, each uniform over range(size).

    What `secrets.choice` gives per word, with one read of the system CSPRNG for all
    of them instead of one per word (a codename page costs its visitor fewer system
    calls and fewer Python frames). Each 16-bit draw below the largest multiple of
    `size` gives `draw % size`, so every index is equally likely; a draw at or above it
    is refused, as `secrets.choice` refuses its own draws past `size`. For the 7,776
    words, 5 % of draws are refused: two spare draws are read each time, and more are
    read if they run out.
    """
    if not 0 < size <= _DRAW:
        raise ValueError("size must be between 1 and 65,536")
    limit = _DRAW - _DRAW % size
    indices: list[int] = []
    while len(indices) < count:
        wanted = count - len(indices)
        for value in memoryview(draw(2 * (wanted + 2))).cast("H"):
            if value < limit:
                indices.append(value % size)
                if len(indices) == count:
                    break
    return indices


def normalize_codename(raw: str) -> str:
    """Canonical form of a typed codename, or InvalidCodenameError.

    Case and extra whitespace are forgiven; unknown words or a wrong count are not.
    """
    if len(raw) > MAX_CODENAME_CHARS:
        raise InvalidCodenameError("codename too long")
    words = raw.lower().split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        raise InvalidCodenameError("wrong number of words")
    known = _codename_set()
    if any(word not in known for word in words):
        raise InvalidCodenameError("unknown word")
    return " ".join(words)


def derive(codename: str, pepper: bytes, params: ScryptParams) -> bytes:
    """scrypt(codename) salted with an instance pepper; 32 bytes."""
    return hashlib.scrypt(
        codename.encode("utf-8"),
        salt=pepper,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=32,
    )


def lookup_id(codename: str, pepper: bytes, params: ScryptParams) -> str:
    return derive(codename, pepper, params).hex()


def reply_key_passphrase(codename: str, pepper: bytes, params: ScryptParams) -> str:
    return derive(codename, pepper, params).hex()


def generate_designation() -> str:
    """Two random words ("sober moth") by which reviewers know a source."""
    adjectives, nouns = designation_words()
    return f"{secrets.choice(adjectives)} {secrets.choice(nouns)}"
