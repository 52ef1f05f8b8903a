"""A source's consent over time: what each report document states, the consent in
force after a series of them, and the small state the source's own page shows.

Consent documents are evidence, sealed to the submission key like every report
(`vault.reports`): the server cannot read them. So that a source sees their current
choices (and changes only what they change), the source app also keeps the answers it
knows, sealed to the source's reply key only (`vault.services.source_consent`); that
state holds nothing but these answers. Pure Python, like `vault.reports`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from vault.reports import CONSENTS, ConsentState, ReportError, is_consent_answers

__all__ = ["consent_state_dumps", "consent_state_loads", "current_consent", "stated_consent"]


def stated_consent(document: Mapping[str, Any]) -> ConsentState:
    """The consent answers a document (as `loads` returns it) states; {} for none."""
    kind = document.get("kind")
    if kind == "consent":
        return dict(document["consent"])
    if kind == "assist":
        return dict(document["assist"].get("consent") or {})
    return {}


def current_consent(documents: Sequence[Mapping[str, Any]]) -> dict[str, bool | None]:
    """The consent in force after `documents`, in the order they were sent (their
    number N): for each use, the latest answer stated; never stated means null (no)."""
    current: dict[str, bool | None] = dict.fromkeys(CONSENTS)
    for document in documents:
        current.update(stated_consent(document))
    return current


# What the source's own page shows of its consent: the answers known so far, sealed to
# the source's reply key only (vault.services.source_consent). A use missing here is
# one whose answer the source app cannot show (given before version 2, or left "as
# before" then).
_STATE_SCHEMA = "backup.consent-state"


def consent_state_dumps(state: Mapping[str, bool | None]) -> bytes:
    known = {name: state[name] for name in CONSENTS if name in state}
    return json.dumps({"schema": _STATE_SCHEMA, "version": 1, "consent": known}).encode()


def consent_state_loads(data: bytes) -> ConsentState:
    """The known answers from a decrypted state. Raises ReportError if it is not one."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ReportError(["state:shape"]) from exc
    if (
        not isinstance(document, dict)
        or document.get("schema") != _STATE_SCHEMA
        or document.get("version") != 1
        or not is_consent_answers(document.get("consent"))
    ):
        raise ReportError(["state:shape"])
    return dict(document["consent"])
