"""A source's consent as data both sides agree on: the answers a consent-bearing document
holds, and the check code that carries them from the workstation to the server.

The server cannot read a consent (it is sealed in an ASSIST request or a change of
consent); the workstation can, but nothing should travel back from the air-gapped
machine except what a person types. So the workstation shows, for each consent-bearing
document, its stored name (`3-sober_moth-msg.gpg`), the answer for each purpose and a
short **check code**: a hash of exactly those facts. The analyst records the answers on
the case page and types the code; the server recomputes it from what was entered and
refuses any mismatch (a wrong document, a wrong answer, a typo). It is a transcription
check, not a signature: the analyst is trusted to record what the document says, as
they were trusted to attest it before; the code makes a slip impossible to miss.

Pure Python: no Flask, no database.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from vault import reports
from vault.consent import stated_consent

# The kinds of report document that carry the source's consent.
CONSENT_BEARING = ("assist", "consent")

__all__ = [
    "CODE_LENGTH",
    "CONSENT_BEARING",
    "Answer",
    "check_code",
    "fold",
    "normalise_code",
    "purposes",
    "stated_answers",
]

CODE_LENGTH = 8
# Crockford's base32: no I, L, O, U, so nothing reads as another character.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_DOMAIN = "backup-consent-record/1"


class Answer(enum.Enum):
    YES = "yes"
    NO = "no"
    # Not answered, or never known: enforced as no (docs/source-experience.md).
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: object) -> Answer:
        if value is True:
            return cls.YES
        if value is False:
            return cls.NO
        return cls.UNKNOWN


def purposes() -> tuple[str, ...]:
    """The purposes a source consents to, in the schema's order."""
    return tuple(reports.CONSENTS)


def stated_answers(document: Mapping[str, Any]) -> dict[str, bool | None] | None:
    """The consent answers a report document (as `reports.loads` returns it) states, or
    None for a document that carries no consent (an ALERT).

    A purpose the document does not name is absent: since schema version 2 a source may
    leave a question "as before", and the earlier answer stands (`fold`).
    """
    if document.get("kind") not in CONSENT_BEARING:
        return None
    return {
        purpose: value
        for purpose, value in stated_consent(document).items()
        if purpose in purposes() and (value is None or isinstance(value, bool))
    }


def fold(stated_in_order: Iterable[Mapping[str, bool | None]]) -> dict[str, Answer]:
    """The consent in force after documents, oldest first: for each purpose the latest
    answer stated; a purpose never stated is unknown (and unknown is no)."""
    current: dict[str, bool | None] = dict.fromkeys(purposes())
    for stated in stated_in_order:
        current.update(stated)
    return {purpose: Answer.of(value) for purpose, value in current.items()}


def check_code(document_name: str, answers: Mapping[str, Answer]) -> str:
    """`ABCD-EFGH`: binds the stored document name to every purpose's answer."""
    facts = "\n".join([_DOMAIN, document_name, *(f"{p}={answers[p].value}" for p in purposes())])
    number = int.from_bytes(hashlib.sha256(facts.encode("utf-8")).digest()[:5], "big")
    chars = "".join(_ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH)))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_code(typed: str) -> str:
    """A typed code in the form `check_code` gives (case, spaces, dashes, O/0 forgiven)."""
    chars = "".join(c for c in typed.upper() if c.isalnum()).translate(_CONFUSABLE)
    return f"{chars[:4]}-{chars[4:]}" if len(chars) == CODE_LENGTH else chars
