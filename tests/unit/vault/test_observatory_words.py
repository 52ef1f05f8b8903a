"""The observatory's categories in words (vault.observatory_words): every code of every
vocabulary named in every language, regions by their official name, periods by the
month's name; the `observatory` catalogue current, complete where it claims to be, and
compiled."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from vault import reports
from vault.observatory_words import LANGUAGES, TRANSLATIONS, Words
from workstation.observatory import charts

ROOT = Path(__file__).resolve().parents[3]
SOURCES = (ROOT / "vault" / "observatory_words.py", Path(charts.__file__))
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# Languages whose catalogue is whole; Kinyarwanda and Kirundi name the categories
# (the words the source read on the ALERT form) and fall back to English for the rest.
COMPLETE = ("fr", "sw", "ar")
VOCABULARIES = {
    "act": reports.VIOLENCE,
    "victim_sex": (*reports.SEXES, "unknown"),
    "age_band": (*reports.AGE_BANDS, "unknown"),
    "perpetrator": reports.PERPETRATORS,
    "source_type": reports.REPORTERS,
}


def _catalog(language: str) -> list[object]:
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "observatory.po", "rb") as handle:
        return [m for m in read_po(handle, locale=language) if m.id]


def test_every_language_of_the_apps_has_a_catalogue() -> None:
    apps = {
        p.name
        for app in ("source_app", "journalist_app")
        for p in (ROOT / app / "translations").iterdir()
        if p.is_dir()
    }
    assert apps <= set(LANGUAGES) and LANGUAGES[0] == "en"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_has_words(language: str) -> None:
    words = Words.of(language)
    for dimension, codes in VOCABULARIES.items():
        named = [words.category(dimension, code) for code in codes]
        assert all(named) and len(set(named)) == len(named), (language, dimension, named)
        assert not set(named) & set(codes), (language, dimension)  # words, not codes
    assert words.category("region", "CD-SK") == "Sud-Kivu"  # ISO 3166-2's own name
    assert words.with_code("region", "CD-SK") == "Sud-Kivu (CD-SK)"
    assert words.category("region", "unknown") == words.category("act", "unknown")
    assert words.category("region", "*") not in ("*", "")
    assert words.category("period", "2025") == "2025"


def test_words_in_french_and_english() -> None:
    english, french = Words.of("en"), Words.of("fr")
    assert english.category("act", "sexual_slavery") == "Sexual slavery"
    assert french.category("act", "sexual_slavery") == "Esclavage sexuel"
    assert french.category("age_band", "12-17") == "12 à 17 ans"
    assert french.category("age_band", "50+") == "50 ans ou plus"
    assert french.category("victim_sex", "unknown") == "Inconnu"
    assert french.category("perpetrator", "unknown") == "Inconnu"
    assert french.category("period", "2025-03") == "mars 2025"
    assert english.category("period", "2025-03") == "March 2025"
    assert french.category("act", "*") == "Total"
    assert french.countries("CD,RW", with_code=True) == "Congo-Kinshasa (CD), Rwanda (RW)"
    assert Words.of("sw").category("act", "rape") == "Ubakaji"
    assert Words.of("ar").rtl and not french.rtl
    # A code outside the vocabulary is shown as it is, never dropped.
    assert french.category("act", "new_code") == "new_code"


def test_catalogue_template_is_current() -> None:
    extracted = set()
    for source in SOURCES:
        with open(source, "rb") as handle:
            for _line, message, _comments, _context in extract_from_file(
                "python", handle.name, keywords={"N_": None}
            ):
                extracted.add(message)
    with open(TRANSLATIONS / "observatory.pot", "rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert extracted == template, "run the pybabel commands in vault/observatory_words.py"


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_catalogues_are_current_and_compiled(language: str) -> None:
    with open(TRANSLATIONS / "observatory.pot", "rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    entries = _catalog(language)
    assert {m.id for m in entries} == template  # type: ignore[attr-defined]
    for m in entries:
        assert not m.fuzzy  # type: ignore[attr-defined]
        if m.string:  # type: ignore[attr-defined]
            assert sorted(PLACEHOLDER.findall(m.string)) == sorted(  # type: ignore[attr-defined]
                PLACEHOLDER.findall(m.id)  # type: ignore[attr-defined]
            ), (language, m.id)  # type: ignore[attr-defined]
        if language in COMPLETE:
            assert m.string, (language, m.id)  # type: ignore[attr-defined]
    mo = TRANSLATIONS / language / "LC_MESSAGES" / "observatory.mo"
    compiled = read_mo(io.BytesIO(mo.read_bytes()))
    assert {m.id: m.string for m in compiled if m.id and m.string} == {
        m.id: m.string  # type: ignore[attr-defined]
        for m in entries
        if m.string  # type: ignore[attr-defined]
    }, f"{language}: run pybabel compile -D observatory -d vault/translations"
