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
    return " ".join(secrets.choice(wordlist) for _ in range(words))


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
