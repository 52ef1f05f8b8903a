"""The observatory's categories and chart text in words, in the reader's language.

A release holds codes (`rape`, `CD-KN`, `18-29`, `2025-03`): machine exports (CSV, HXL
JSON) keep them, people read words. One catalogue serves everyone who shows a release:
`vault/translations/<lang>/LC_MESSAGES/observatory.po` (domain `observatory`), in every
language the apps have (French, Swahili, Kinyarwanda, Kirundi, Arabic; English is the
source). The reviewer app and the public /figures page read it through a Flask-Babel
`Domain` in the viewer's language; the workstation reads it with Babel alone, in the
language of the release (`backupctl workstation release make --language`).

- acts, sex, age band, perpetrator, source type: labels from this catalogue (the acts
  and perpetrators in the words the source read on the ALERT form, `source_app/forms_labels`);
- regions: their official ISO 3166-2 name (`vault.regions`, from pycountry), never
  translated, like on the source's form; countries: their CLDR name in the reader's
  language (Babel), English where CLDR has none;
- periods: the month's name and the year (CLDR), a year as it is.

Extraction (from the repository root; `N_` marks a string without translating it; the
charts' text is in `workstation/observatory/charts.py`):

    pybabel extract -k N_ --no-default-keywords -o vault/translations/observatory.pot \\
        --no-location --sort-output --project BackUp \\
        vault/observatory_words.py workstation/observatory/charts.py
    pybabel update -D observatory -i vault/translations/observatory.pot \\
        -d vault/translations --no-fuzzy-matching
    pybabel compile -D observatory -d vault/translations
"""

from __future__ import annotations

import datetime as dt
import gettext
import re
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.support import Translations

from vault import reports
from vault.regions import first_level

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "N_",
    "TOTAL",
    "TRANSLATIONS",
    "Words",
]

DOMAIN = "observatory"
TRANSLATIONS = Path(__file__).parent / "translations"
# A release's total marker (workstation.observatory.release_table.TOTAL).
TOTAL = "*"
UNKNOWN = "unknown"


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark, do not translate"
    return message


def _compiled() -> tuple[str, ...]:
    if not TRANSLATIONS.is_dir():
        return ()
    return tuple(
        sorted(
            p.name for p in TRANSLATIONS.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
        )
    )


# English first (the source), then every language with a compiled catalogue.
LANGUAGES: tuple[str, ...] = ("en", *_compiled())

ACTS = {
    "rape": N_("Rape"),
    "sexual_slavery": N_("Sexual slavery"),
    "forced_prostitution": N_("Forced prostitution"),
    "forced_pregnancy": N_("Forced pregnancy"),
    "enforced_sterilisation": N_("Enforced sterilisation"),
    "sexual_mutilation_torture": N_("Sexual mutilation or sexual torture"),
    "forced_nudity": N_("Forced nudity"),
    "other": N_("Other sexual violence"),
}
SEXES = {"female": N_("Women or girls"), "male": N_("Men or boys"), "other": N_("Other sex")}
PERPETRATORS = {
    "state_forces": N_("Soldiers or other state forces"),
    "armed_group": N_("An armed group"),
    "police": N_("Police"),
    "civilians": N_("Civilians"),
    "unknown": N_("Unknown"),
}
SOURCE_TYPES = {
    "survivor": N_("Survivor"),
    "family": N_("Family member"),
    "witness": N_("Witness"),
    "activist": N_("Activist or investigator"),
    "health": N_("Health worker"),
    "legal": N_("Lawyer or legal worker"),
    "social": N_("Social worker"),
    "other": N_("Other source"),
}
_UNKNOWN = N_("Unknown")
_TOTAL = N_("Total")
_AGE_RANGE = N_("%(low)s to %(high)s years")
_AGE_OPEN = N_("%(low)s years or older")
_AGE = re.compile(r"(\d+)-(\d+)")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
if (set(ACTS), set(SEXES), set(PERPETRATORS), set(SOURCE_TYPES)) != (
    set(reports.VIOLENCE),
    set(reports.SEXES),
    set(reports.PERPETRATORS),
    set(reports.REPORTERS),
):  # pragma: no cover - vault.reports changed: name the new codes here
    raise ImportError("observatory_words lacks words for a code of vault.reports")

_VOCABULARIES = {
    "act": ACTS,
    "victim_sex": SEXES,
    "perpetrator": PERPETRATORS,
    "source_type": SOURCE_TYPES,
}


class Words:
    """Words for one language: `translations` is a gettext catalogue (Flask-Babel's
    for the viewer, or `Words.of(language)`'s), `locale` the language's code."""

    def __init__(self, translations: gettext.NullTranslations, locale: str) -> None:
        self.translations = translations
        self.locale = locale
        try:
            self._cldr: Locale | None = Locale.parse(locale)
        except (UnknownLocaleError, ValueError):
            self._cldr = None
        self._regions: dict[str, dict[str, str]] = {}

    @classmethod
    def of(cls, language: str = "en") -> Words:
        """The words of `language` (one of LANGUAGES), from the catalogue alone."""
        if language not in LANGUAGES:
            raise ValueError(f"no observatory catalogue for {language!r}: {', '.join(LANGUAGES)}")
        if language == "en":
            return cls(gettext.NullTranslations(), "en")
        return cls(Translations.load(str(TRANSLATIONS), [language], domain=DOMAIN), language)

    @property
    def rtl(self) -> bool:
        return self._cldr is not None and self._cldr.character_order == "right-to-left"

    def gettext(self, message: str, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def country(self, code: str) -> str:
        names = self._cldr.territories if self._cldr is not None else {}
        return str(names.get(code) or Locale("en").territories.get(code) or code)

    def region(self, code: str) -> str:
        country = code.split("-", 1)[0]
        if country not in self._regions:
            self._regions[country] = first_level(country)
        return self._regions[country].get(code, code)

    def period(self, code: str) -> str:
        month = _MONTH.fullmatch(code)
        if month is None or self._cldr is None:
            return code
        year, number = int(month.group(1)), int(month.group(2))
        return str(format_skeleton("yMMMM", dt.date(year, number, 1), locale=self._cldr))

    def age_band(self, code: str) -> str:
        closed = _AGE.fullmatch(code)
        if closed is not None:
            return self.gettext(_AGE_RANGE, low=closed.group(1), high=closed.group(2))
        if code.endswith("+") and code[:-1].isdigit():
            return self.gettext(_AGE_OPEN, low=code[:-1])
        return code

    def category(self, dimension: str, code: str) -> str:
        """A category of a release's dimension in words (the total marker: "Total")."""
        if code == TOTAL:
            return self.gettext(_TOTAL)
        if code == UNKNOWN and dimension != "perpetrator":
            return self.gettext(_UNKNOWN)
        if dimension == "period":
            return self.period(code)
        if dimension == "country":
            return self.country(code)
        if dimension == "region":
            return self.region(code)
        if dimension == "age_band":
            return self.age_band(code)
        vocabulary = _VOCABULARIES.get(dimension, {})
        return self.gettext(vocabulary[code]) if code in vocabulary else code

    def with_code(self, dimension: str, code: str) -> str:
        """Words, and the code beside for places (what analysts match with other data)."""
        words = self.category(dimension, code)
        if dimension in ("region", "country") and code not in (TOTAL, UNKNOWN):
            return f"{words} ({code})" if code not in words else words
        return words

    def countries(self, codes: str | list[str] | tuple[str, ...], with_code: bool = False) -> str:
        """A release's countries (comma-separated or a list) in words; "" for none."""
        listed = [c.strip() for c in (codes.split(",") if isinstance(codes, str) else codes)]
        label = self.with_code if with_code else self.category
        return ", ".join(label("country", c) for c in listed if c)
