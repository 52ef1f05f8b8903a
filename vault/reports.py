"""The structured report a source sends (ALERT, ASSIST, a change of consent): its schema,
its validation from a submitted form, and its serialisation to versioned JSON.

The document is sealed like any message (`N-designation-msg.gpg`: SecureDrop clients
and our workstation already know that kind), so nothing here ever reaches the database
or a log in clear. The workstation recognises it by `schema` and `version`.

Every answer is optional. Validation is strict all the same: a value that is not one of
ours (an invented category, a forged field, a number out of range) rejects the whole
form, so nothing half-understood is sealed. Errors carry codes, never the input: the
source app turns each code into a sentence in the source's language.

Pure Python: no Flask, no database. The choice lists are codes; their labels live in
the apps (translated) and the workstation (English for analysts).

Versions. 1: the first schema. 2: ASSIST asks for the coarse place (`where`, as ALERT)
and a fifth consent (`contact_partner`); a consent answer the source left "as before" is
absent instead of being written as null; a change of consent is flat (`"consent":
{...answers}`, where version 1 nested `{"consent": {"consent": ...}}`). `loads` reads
both and gives every reader the version 2 shape.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vault.errors import VaultError
from vault.regions import REGIONS

__all__ = [
    "AGE_BANDS",
    "ALERT_FIELDS",
    "ASSIST_FIELDS",
    "CONSENTS",
    "CONSENT_CHOICES",
    "CONSENT_FIELDS",
    "CONTACT_METHODS",
    "EVIDENCE",
    "MAX_COUNT",
    "MAX_LONG_TEXT",
    "MAX_SHORT_TEXT",
    "NEEDS",
    "PERPETRATORS",
    "READABLE_VERSIONS",
    "REPORTERS",
    "SCHEMA",
    "SEXES",
    "URGENCIES",
    "VERSION",
    "VIOLENCE",
    "ConsentState",
    "ReportError",
    "alert_from_form",
    "assist_from_form",
    "consent_from_form",
    "dumps",
    "is_consent_answers",
    "loads",
]

SCHEMA = "backup.source-report"
VERSION = 2
READABLE_VERSIONS = (1, 2)

REPORTERS = ("survivor", "family", "witness", "activist", "health", "legal", "social", "other")
# The International Protocol on the Documentation and Investigation of Sexual Violence
# in Conflict (2nd ed., 2017): its categories of conflict-related sexual violence.
VIOLENCE = (
    "rape",
    "sexual_slavery",
    "forced_prostitution",
    "forced_pregnancy",
    "enforced_sterilisation",
    "sexual_mutilation_torture",
    "forced_nudity",
    "other",
)
SEXES = ("female", "male", "other")
AGE_BANDS = ("0-4", "5-11", "12-17", "18-29", "30-49", "50+")
PERPETRATORS = ("state_forces", "armed_group", "police", "civilians", "unknown")
EVIDENCE = ("photos", "medical_records", "witnesses", "documents", "other")
NEEDS = ("medical", "psychosocial", "legal", "safety", "livelihood")
URGENCIES = ("today", "this_week", "later")
CONSENTS = ("handle_case", "refer_partner", "contact_partner", "statistics", "court")
# The radio values of one consent question. "Not now" is recorded as null (treated as no);
# an empty value ("as before", offered only when the page cannot show the current answer)
# or no value leaves the answer as it was: nothing is written for it.
CONSENT_CHOICES = ("yes", "no", "not_now")
CONTACT_METHODS = ("backup", "other")

MAX_COUNT = 10_000  # people: a mass event is possible, a larger number is a typo
MAX_SHORT_TEXT = 500
MAX_LONG_TEXT = 10_000  # JSON escapes at most x6: the sealed message stays < 100,000
EARLIEST_YEAR = 1950

ALERT_FIELDS = frozenset(
    {
        "reporter",
        "violence",
        "when_date",
        "when_month",
        "when_year",
        "ongoing",
        "country",
        "region",
        "place",
        "victims_count",
        "victims_sex",
        "victims_age",
        "perpetrators",
        "perpetrators_count",
        "evidence",
        "account",
    }
)
CONSENT_FIELDS = frozenset(f"consent_{name}" for name in CONSENTS)
PLACE_FIELDS = frozenset({"country", "region"})
ASSIST_FIELDS = frozenset(
    {"needs", "urgency", "recent", "contact", "contact_details"} | CONSENT_FIELDS | PLACE_FIELDS
)
# Fields every form carries that are not answers.
_FRAMEWORK_FIELDS = frozenset({"csrf_token"})


class ReportError(VaultError):
    """The form cannot become a report. `codes` name each problem (field:reason)."""

    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = tuple(codes)


Form = Mapping[str, Sequence[str]]


@dataclass
class _Reader:
    """Reads answers from a form (field -> list of values), collecting every problem."""

    form: Form
    allowed: frozenset[str]
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = set(self.form) - self.allowed - _FRAMEWORK_FIELDS
        if unknown:
            self.errors.append("form:unexpected")

    def _values(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, ()) if v.strip()]

    def one(self, name: str, choices: Sequence[str]) -> str | None:
        values = self._values(name)
        if not values:
            return None
        if len(values) > 1 or values[0] not in choices:
            self.errors.append(f"{name}:choice")
            return None
        return values[0]

    def many(self, name: str, choices: Sequence[str]) -> list[str]:
        values = self._values(name)
        if any(v not in choices for v in values) or len(values) > len(choices):
            self.errors.append(f"{name}:choice")
            return []
        # The order of the list of choices, each once: the document is canonical.
        return [c for c in choices if c in values]

    def text(self, name: str, limit: int) -> str | None:
        values = self.form.get(name, ())
        if len(values) > 1:
            self.errors.append(f"{name}:choice")
            return None
        value = (
            unicodedata.normalize("NFC", values[0].replace("\r\n", "\n")).strip() if values else ""
        )
        if "\ufffd" in value or any(_is_forbidden_char(c) for c in value):
            self.errors.append(f"{name}:characters")
            return None
        if len(value) > limit:
            self.errors.append(f"{name}:length")
            return None
        return value or None

    def count(self, name: str) -> int | None:
        value = self.text(name, 12)
        if value is None:
            return None
        number = _number(value)
        if number is None:
            self.errors.append(f"{name}:number")
            return None
        if not 1 <= number <= MAX_COUNT:
            self.errors.append(f"{name}:range")
            return None
        return number

    def check(self) -> None:
        if self.errors:
            raise ReportError(self.errors)


def _number(value: str) -> int | None:
    """A whole number written in any script's decimal digits (٣, ३, 3), else None.

    Phones with an Arabic (or other) keyboard type their own digits; refusing them would
    refuse the answer. Only decimal digits (Unicode Nd): not ², not ½, no sign, no space.
    """
    if not value.isdecimal():
        return None
    return int(value)


def _is_forbidden_char(char: str) -> bool:
    # Control characters (bar line breaks and tabs) have no place in an answer.
    return unicodedata.category(char) == "Cc" and char not in "\n\t"


def _when(reader: _Reader, today: dt.date) -> dict[str, Any] | None:
    day = reader.text("when_date", 10)
    month = reader.one("when_month", [str(m) for m in range(1, 13)])
    year_text = reader.text("when_year", 4)
    ongoing = reader.one("ongoing", ["yes"]) == "yes"
    year = _number(year_text) if year_text is not None else None
    if year_text is not None and (year is None or year < EARLIEST_YEAR):
        year = None
        reader.errors.append("when_year:range")
    when: dict[str, Any] = {}
    if day is not None:
        try:
            date = dt.date.fromisoformat(day)
        except ValueError:
            reader.errors.append("when_date:format")
            return None
        if not dt.date(EARLIEST_YEAR, 1, 1) <= date <= today:
            reader.errors.append("when_date:range")
            return None
        when = {"precision": "day", "date": date.isoformat()}
    elif year is not None:
        if (year, int(month or 1)) > (today.year, today.month):
            reader.errors.append("when_year:range")
            return None
        when = (
            {"precision": "month", "date": f"{year:04d}-{int(month):02d}"}
            if month is not None
            else {"precision": "year", "date": f"{year:04d}"}
        )
    elif month is not None:
        reader.errors.append("when_year:missing")
        return None
    if ongoing:
        when["ongoing"] = True
    return when or None


def _where(reader: _Reader, *, with_place: bool = True) -> dict[str, Any] | None:
    country = reader.one("country", sorted(REGIONS))
    region = reader.one("region", [code for codes in REGIONS.values() for code in codes])
    place = reader.text("place", MAX_SHORT_TEXT) if with_place else None
    if region is not None:
        owner = region.split("-", 1)[0]
        if country is None:
            country = owner  # a region names its country: no need to ask twice
        elif country != owner:
            reader.errors.append("region:country")
            return None
    where: dict[str, Any] = {"country": country, "region": region}
    if with_place:
        where["place"] = place
    return where if any(where.values()) else None


def _answered(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_answered(item) for item in value.values())
    return value not in (None, [], "", False)


def alert_from_form(form: Form, *, today: dt.date, with_files: bool = False) -> dict[str, Any]:
    """The ALERT document for a submitted form. Raises ReportError.

    Every question is optional, but a report with no answer at all and no file says
    nothing: it is refused (`alert:empty`) rather than stored.
    """
    reader = _Reader(form, ALERT_FIELDS)
    report = {
        "reporter": reader.one("reporter", REPORTERS),
        "violence": reader.many("violence", VIOLENCE),
        "when": _when(reader, today),
        "where": _where(reader),
        "victims": {
            "count": reader.count("victims_count"),
            "sex": reader.many("victims_sex", SEXES),
            "age_bands": reader.many("victims_age", AGE_BANDS),
        },
        "perpetrators": {
            "categories": reader.many("perpetrators", PERPETRATORS),
            "count": reader.count("perpetrators_count"),
        },
        "evidence": reader.many("evidence", EVIDENCE),
        "account": reader.text("account", MAX_LONG_TEXT),
    }
    reader.check()
    if not with_files and not _answered(report):
        raise ReportError(["alert:empty"])
    return _envelope("alert", report)


ConsentState = dict[str, bool | None]


def _consent(reader: _Reader) -> ConsentState:
    """The answers the source gave, one per use: true, false, or null for "not now"
    (which WWoW treats as no: see docs/source-experience.md). A question left "as
    before" (or not sent) is absent: the earlier answer stands."""
    stated: ConsentState = {}
    for name in CONSENTS:
        value = reader.one(f"consent_{name}", CONSENT_CHOICES)
        if value is not None:
            stated[name] = None if value == "not_now" else value == "yes"
    return stated


def assist_from_form(form: Form) -> dict[str, Any]:
    """The ASSIST document (needs, urgency, place, consent, contact). Raises ReportError."""
    reader = _Reader(form, ASSIST_FIELDS)
    method = reader.one("contact", CONTACT_METHODS) or "backup"
    details = reader.text("contact_details", MAX_SHORT_TEXT)
    if method == "other" and details is None:
        reader.errors.append("contact_details:missing")
    recent = reader.one("recent", ("yes", "no", "unsure"))
    assist = {
        "needs": reader.many("needs", NEEDS),
        "urgency": reader.one("urgency", URGENCIES),
        "within_72_hours": recent,
        "where": _where(reader, with_place=False),
        "consent": _consent(reader),
        # A contact the source did not choose to give is never kept, even if typed.
        "contact": {"method": method, "details": details if method == "other" else None},
    }
    reader.check()
    return _envelope("assist", assist)


def consent_from_form(form: Form) -> dict[str, Any]:
    """A change of consent, sent later by a logged-in source. Raises ReportError
    (`consent:empty` when every question was left as before)."""
    reader = _Reader(form, CONSENT_FIELDS)
    consent = _consent(reader)
    reader.check()
    if not consent:
        raise ReportError(["consent:empty"])
    return _envelope("consent", consent)


def _envelope(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "version": VERSION, "kind": kind, kind: body}


def dumps(document: Mapping[str, Any]) -> str:
    """Canonical JSON: the same answers always give the same text."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1)


def is_consent_answers(body: Any) -> bool:
    """Whether `body` is a mapping of consent uses to true, false or null."""
    return (
        isinstance(body, dict)
        and set(body) <= set(CONSENTS)
        and all(value is None or isinstance(value, bool) for value in body.values())
    )


_KINDS: dict[str, Callable[[Any], bool]] = {
    "alert": lambda body: isinstance(body, dict),
    "assist": lambda body: isinstance(body, dict) and is_consent_answers(body.get("consent", {})),
    "consent": is_consent_answers,
}


def _upgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A version 1 document in the version 2 shape (its `version` stays 1)."""
    if document.get("kind") == "consent" and isinstance(document.get("consent"), dict):
        document["consent"] = document["consent"].get("consent")
    return document


def loads(text: str) -> dict[str, Any] | None:
    """A report document from decrypted text, or None if the text is not one of ours.

    Version 1 documents come back in the version 2 shape (see the module's docstring).
    Raises ReportError for a document of ours with an unknown version or kind.
    """
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        return None
    kind = document.get("kind")
    if document.get("version") not in READABLE_VERSIONS or kind not in _KINDS:
        raise ReportError(["document:version"])
    if document["version"] == 1:
        document = _upgrade(document)
    if not _KINDS[kind](document.get(kind)):
        raise ReportError(["document:shape"])
    return document
