"""Words a source reads on the ALERT and ASSIST forms: one label per code of
`vault.reports`, and one sentence per validation problem.

Lazy strings: they are translated when a page renders, in that page's language. The
wording is plain and blames no one; every question may be left blank.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from babel import Locale
from flask_babel import get_locale

# Lazy, yet named `_`: the extractor (pybabel, and the catalogue test) finds `_(...)`.
from flask_babel import lazy_gettext as _

from vault.regions import FIELD_COUNTRIES, REGIONS

__all__ = [
    "AGE_BANDS",
    "CONSENTS",
    "EVIDENCE",
    "MONTHS",
    "NEEDS",
    "PERPETRATORS",
    "RECENT",
    "REPORTERS",
    "SEXES",
    "URGENCIES",
    "VIOLENCE",
    "countries",
    "error_messages",
]

REPORTERS = {
    "survivor": _("It happened to me"),
    "family": _("A member of my family"),
    "witness": _("I saw it happen"),
    "activist": _("I am an activist or investigator"),
    "health": _("I am a health worker"),
    "legal": _("I am a lawyer or legal worker"),
    "social": _("I am a social worker"),
    "other": _("Other"),
}
VIOLENCE = {
    "rape": _("Rape"),
    "sexual_slavery": _("Sexual slavery (being held and used sexually)"),
    "forced_prostitution": _("Forced prostitution"),
    "forced_pregnancy": _("Forced pregnancy"),
    "enforced_sterilisation": _("Being made unable to have children (sterilisation)"),
    "sexual_mutilation_torture": _("Sexual mutilation or sexual torture"),
    "forced_nudity": _("Forced nudity (made to undress)"),
    "other": _("Other sexual violence"),
}
SEXES = {"female": _("Women or girls"), "male": _("Men or boys"), "other": _("Other")}
AGE_BANDS = {
    "0-4": _("Child under 5"),
    "5-11": _("Child 5 to 11"),
    "12-17": _("Child 12 to 17"),
    "18-29": _("Adult 18 to 29"),
    "30-49": _("Adult 30 to 49"),
    "50+": _("Adult 50 or older"),
}
PERPETRATORS = {
    "state_forces": _("Soldiers or other state forces"),
    "armed_group": _("An armed group"),
    "police": _("Police"),
    "civilians": _("Civilians"),
    "unknown": _("I do not know"),
}
EVIDENCE = {
    "photos": _("Photos or videos"),
    "medical_records": _("Medical records"),
    "witnesses": _("People who saw it"),
    "documents": _("Other documents"),
    "other": _("Something else"),
}
NEEDS = {
    "medical": _("Urgent medical care"),
    "psychosocial": _("Someone to talk to (psychological support)"),
    "legal": _("Legal help"),
    "safety": _("A safe place to stay"),
    "livelihood": _("Help to earn a living"),
}
URGENCIES = {
    "today": _("Today"),
    "this_week": _("This week"),
    "later": _("It can wait"),
}
CONSENTS = {
    "handle_case": _("May WWoW take care of your case?"),
    "refer_partner": _(
        "May WWoW pass your case to a trusted doctor, lawyer or counsellor who works with us?"
    ),
    "contact_partner": _(
        "May that doctor, lawyer or counsellor contact you themselves, here or in the way you "
        "told us?"
    ),
    "statistics": _("May WWoW count your case in statistics, with nothing that shows who you are?"),
    "court": _("May WWoW use what you sent in a court case?"),
}
RECENT = {
    "yes": _("Yes"),
    "no": _("No"),
    "unsure": _("I am not sure"),
}
MONTHS = {
    "1": _("January"),
    "2": _("February"),
    "3": _("March"),
    "4": _("April"),
    "5": _("May"),
    "6": _("June"),
    "7": _("July"),
    "8": _("August"),
    "9": _("September"),
    "10": _("October"),
    "11": _("November"),
    "12": _("December"),
}

_QUESTIONS = {
    "reporter": _("Who is sending this"),
    "violence": _("What happened"),
    "when_date": _("The date"),
    "when_month": _("The month"),
    "when_year": _("The year"),
    "ongoing": _("Still happening"),
    "country": _("Country"),
    "region": _("Region"),
    "place": _("Place"),
    "victims_count": _("Number of people hurt"),
    "victims_sex": _("Who was hurt"),
    "victims_age": _("Their ages"),
    "perpetrators": _("Who did it"),
    "perpetrators_count": _("Number of people who did it"),
    "evidence": _("What exists to show it"),
    "account": _("In your own words"),
    "needs": _("What help you need"),
    "urgency": _("How soon"),
    "recent": _("In the last 3 days"),
    "contact": _("How we reach you"),
    "contact_details": _("Your contact"),
}


def _problem(field: str, reason: str) -> Any:
    question = _QUESTIONS.get(field)
    if field == "form":
        return _("The form held something we did not expect.")
    if field == "consent":
        return _("You left every question as before: choose an answer to change.")
    if field == "alert":
        return _(
            "The form is empty. Answer at least one question, write what happened, or "
            "choose a file."
        )
    if field == "region" and reason == "country":
        return _("The region is not in the country you chose.")
    if field == "contact_details" and reason == "missing":
        return _("Write how we can reach you, or choose to be reached only here.")
    if field == "when_year" and reason == "missing":
        return _("Give the year with the month.")
    if question is None:
        return _("Something in the form could not be read.")
    reasons = {
        "choice": _("“%(question)s”: choose from the list.", question=question),
        "characters": _("“%(question)s”: some characters could not be read.", question=question),
        "length": _("“%(question)s”: the answer is too long.", question=question),
        "number": _("“%(question)s”: write a number, such as 3.", question=question),
        "range": _("“%(question)s”: this number or date is not possible.", question=question),
        "format": _("“%(question)s”: this date could not be read.", question=question),
    }
    return reasons.get(reason, _("Something in the form could not be read."))


def error_messages(codes: Iterable[str]) -> list[str]:
    """One sentence per problem, in the page's language, without repeating any."""
    sentences: list[str] = []
    for code in codes:
        field, _sep, reason = code.partition(":")
        sentence = str(_problem(field, reason))
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences


def countries(shown: str | None = None) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(code, name in the reader's language, regions) for every country, by name.

    Regions are listed for the countries where WWoW works and for `shown` (the country
    the source asked regions for): every region of every country would make the page
    too heavy for a slow Tor circuit.
    """
    locale = get_locale()
    names = locale.territories if locale is not None else {}
    # CLDR lacks some names in some languages (Kinyarwanda has none): English then.
    fallback = Locale("en").territories
    listed = [
        (
            code,
            str(names.get(code) or fallback.get(code, code)),
            sorted(regions.items(), key=lambda item: item[1])
            if code in FIELD_COUNTRIES or code == shown
            else [],
        )
        for code, regions in REGIONS.items()
    ]
    return sorted(listed, key=lambda item: item[1])
