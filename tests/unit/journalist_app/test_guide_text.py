"""The investigators' guide sources: every language keeps the English structure and
cites the references; a language without a guide falls back to English; no raw HTML
from a source reaches the page."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from journalist_app import guide_text

REFERENCES = (
    "International Protocol on the Documentation and Investigation of Sexual Violence in",
    "Berkeley Protocol on Digital Open Source Investigations",
    "Murad Code: Global Code of Conduct for Gathering and Using Information about Systematic",
)
# What the chain of custody section must name: the commands BackUp really has.
CUSTODY_COMMANDS = (
    "backupctl custody init",
    "backupctl custody trust",
    "backupctl custody import",
    "backupctl custody decrypt",
    "backupctl custody judicial",
    "backupctl custody verify",
    "backupctl custody seal",
)


def _source(language: str) -> str:
    path = resources.files("journalist_app").joinpath("guide", f"{language}.md")
    return path.read_text("utf-8")


def _outline(language: str) -> list[str]:
    """Heading levels, and the numbers of numbered headings, in order."""
    return [
        f"{m.group(1)} {m.group(2) or ''}".strip()
        for m in re.finditer(r"^(#{1,6}) (\d+\.)?", _source(language), re.MULTILINE)
    ]


def test_english_and_french_exist() -> None:
    assert guide_text.available_languages()[:1] == ["en"]
    assert "fr" in guide_text.available_languages()


@pytest.mark.parametrize("language", guide_text.available_languages())
def test_every_language_keeps_the_english_structure(language: str) -> None:
    assert _outline(language) == _outline("en")
    guide = guide_text.load(language)
    assert guide.language == language and not guide.fell_back
    assert len(guide.contents) == 8
    text = re.sub(r"\s+", " ", _source(language))
    for title in REFERENCES:
        assert title in text, title
    for year in ("2017", "2022", "2020"):
        assert year in text
    for command in CUSTODY_COMMANDS:
        assert command in text, command


def test_custody_commands_exist() -> None:
    """The guide names no custody command BackUp does not have."""
    import click

    from backupctl.cli import main

    # Commands are loaded when used (backupctl/cli.py): asked for, as the CLI does.
    custody = main.get_command(click.Context(main), "custody")
    assert custody is not None
    for command in CUSTODY_COMMANDS:
        assert command.split()[-1] in custody.commands  # type: ignore[attr-defined]


def test_a_language_without_a_guide_falls_back_to_english() -> None:
    guide = guide_text.load("sw")
    assert guide.language == "en" and guide.fell_back
    assert guide.title.startswith("Documenting conflict-related sexual violence")
    regional = guide_text.load("fr_CD")
    assert regional.language == "fr" and not regional.fell_back


def test_sections_are_anchored() -> None:
    guide = guide_text.load("en")
    for anchor, _heading in guide.contents:
        assert f'id="{anchor}"' in guide.html


def test_raw_html_in_a_source_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    guide_text._render.cache_clear()
    original = resources.files

    class _Files:
        def __init__(self, package: str) -> None:
            self.real = original(package)

        def joinpath(self, *parts: str) -> object:
            if parts[-1] == "en.md":
                return _Text("# T\n\n<script>alert(1)</script>\n\n<img src=x onerror=y>\n")
            return self.real.joinpath(*parts)

    class _Text:
        def __init__(self, text: str) -> None:
            self.text = text

        def read_text(self, _encoding: str) -> str:
            return self.text

    monkeypatch.setattr(guide_text.resources, "files", _Files)
    try:
        html = str(guide_text.load("en").html)
    finally:
        guide_text._render.cache_clear()
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_standalone_document_loads_nothing() -> None:
    document = guide_text.standalone_html("fr")
    assert '<html lang="fr">' in document
    assert "default-src 'none'" in document
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", document)
