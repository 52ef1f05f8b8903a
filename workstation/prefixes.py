"""Short prefixes for long identifiers typed by hand on the workstation.

Item ids are 36-character uuids and key fingerprints 64 hex characters: nobody types
them reliably. Two different uses, two rules:

- **Choosing** among things the workspace already holds (an imported item): any
  unique prefix of at least `MIN_PREFIX` characters (the 8 the reviewer interface and
  the commands show). An ambiguous prefix is refused, listing the candidates; an
  unknown one too. Nothing is chosen by guess.
- **Checking** a key against a fingerprint published out of band (`trust`, `log`,
  `verify`): there is one candidate, the key in hand, so "unique" protects nothing; what
  protects is how hard it is to make another key whose fingerprint starts the same.
  8 hex characters (32 bits) can be matched by brute force in hours; the check accepts
  a prefix of at least `MIN_FINGERPRINT_CHECK` (16 hex characters, 64 bits) and says
  which full fingerprint it matched.
- **Choosing a key** in a GnuPG home by its fingerprint (`backupctl keys export`): a
  unique prefix, like an item, but of at least `MIN_FINGERPRINT_CHECK` characters like
  a check: what is typed is read from the fingerprint the ceremony reads aloud, and a
  key whose fingerprint starts with chosen 8 characters could have been slipped into
  the home to be exported in the submission key's place.

Spaces (the grouped display `ABCD 1234 …`), dashes and case are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from workstation.errors import WorkstationError

__all__ = [
    "MIN_FINGERPRINT_CHECK",
    "MIN_PREFIX",
    "AmbiguousPrefixError",
    "PrefixError",
    "UnknownPrefixError",
    "check_fingerprint",
    "checkable",
    "names_fingerprint",
    "normalise_fingerprint",
    "resolve_fingerprint",
    "resolve_prefix",
]

MIN_PREFIX = 8
MIN_FINGERPRINT_CHECK = 16
_HEX = re.compile(r"[0-9A-F]+")


class PrefixError(WorkstationError):
    """A typed identifier does not name exactly one thing."""


class AmbiguousPrefixError(PrefixError):
    def __init__(self, what: str, typed: str, candidates: list[str]) -> None:
        self.candidates = candidates
        listed = "\n".join(f"  {c}" for c in candidates)
        super().__init__(
            f"{typed}: ambiguous {what}: {len(candidates)} start with it; "
            f"type more characters:\n{listed}"
        )


class UnknownPrefixError(PrefixError):
    pass


def _clean(typed: str) -> str:
    return "".join(typed.split()).lower()


def resolve_prefix(
    typed: str,
    candidates: Iterable[str] | Mapping[str, str],
    *,
    what: str = "item id",
    minimum: int = MIN_PREFIX,
) -> str:
    """The one candidate `typed` is a prefix of (a full id is a prefix of itself).

    `candidates` may map each id to a description shown when the prefix is ambiguous.

    Raises:
        PrefixError: shorter than `minimum` (and not a whole id).
        UnknownPrefixError: no candidate starts with it.
        AmbiguousPrefixError: several do; the message lists them.
    """
    prefix = _clean(typed)
    described = dict(candidates) if isinstance(candidates, Mapping) else None
    pool = sorted(described or candidates)
    if prefix in pool:
        return prefix
    if len(prefix) < minimum:
        raise PrefixError(f"{typed}: too short for a {what}: type at least {minimum} characters")
    found = [c for c in pool if c.startswith(prefix)]
    if not found:
        raise UnknownPrefixError(f"{typed}: no {what} starts with this")
    if len(found) > 1:
        shown = [f"{c}  {described[c]}" if described else c for c in found]
        raise AmbiguousPrefixError(what, typed, shown)
    return found[0]


def normalise_fingerprint(typed: str) -> str:
    """`ab12 CD34-…` -> `AB12CD34…` (how fingerprints are compared)."""
    return "".join(ch for ch in typed if ch not in " \t-:").upper()


def checkable(typed: str, what: str) -> str:
    """`typed`, normalised, if it is long enough to check a key against.

    Raises PrefixError for a shorter prefix (too easy to forge a key that matches).
    """
    expected = normalise_fingerprint(typed)
    if len(expected) < MIN_FINGERPRINT_CHECK:
        raise PrefixError(
            f"{typed}: too short to check the {what}: type at least "
            f"{MIN_FINGERPRINT_CHECK} characters of the published fingerprint (a shorter "
            "prefix can be matched by a forged key)"
        )
    return expected


def check_fingerprint(typed: str, actual: str, what: str) -> bool:
    """Whether the key with fingerprint `actual` is the one `typed` names: the whole
    fingerprint, or a prefix of at least MIN_FINGERPRINT_CHECK characters.

    Raises PrefixError for a shorter prefix.
    """
    return actual.upper().startswith(checkable(typed, what))


def names_fingerprint(typed: str, actual: str) -> bool:
    """`check_fingerprint`, where a too-short prefix simply names no key."""
    try:
        return check_fingerprint(typed, actual, "key")
    except PrefixError:
        return False


def resolve_fingerprint(
    typed: str, candidates: Mapping[str, str] | Iterable[str], *, what: str = "key"
) -> str:
    """The one fingerprint of `candidates` that `typed` names: the whole fingerprint or
    a unique prefix of at least MIN_FINGERPRINT_CHECK hex characters (spaces, dashes,
    colons and case ignored). Returned in upper case, as gpg lists it.

    `candidates` may map each fingerprint to a description (a user id) shown when the
    prefix is ambiguous.

    Raises:
        PrefixError: not hex, or shorter than MIN_FINGERPRINT_CHECK (and not whole).
        UnknownPrefixError: no candidate starts with it.
        AmbiguousPrefixError: several do; the message lists them.
    """
    prefix = normalise_fingerprint(typed)
    if not _HEX.fullmatch(prefix):
        raise PrefixError(f"{typed}: not a fingerprint (hex digits 0-9 and A-F only)")
    if isinstance(candidates, Mapping):
        described = {fp.upper(): text for fp, text in candidates.items()}
    else:
        described = {fp.upper(): "" for fp in candidates}
    if prefix in described:
        return prefix
    if len(prefix) < MIN_FINGERPRINT_CHECK:
        raise PrefixError(
            f"{typed}: too short to choose a {what}: type at least {MIN_FINGERPRINT_CHECK} "
            "characters of its fingerprint (a shorter prefix can be matched by a forged key)"
        )
    found = sorted(fp for fp in described if fp.startswith(prefix))
    if not found:
        raise UnknownPrefixError(f"{typed}: no {what} here has a fingerprint starting with this")
    if len(found) > 1:
        shown = [f"{fp}  {described[fp]}".rstrip() for fp in found]
        raise AmbiguousPrefixError(f"{what} fingerprint", typed, shown)
    return found[0]
