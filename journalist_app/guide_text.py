"""The investigators' guide: one Markdown source per language, rendered to HTML for the
reviewer interface and for the PDF (backupctl guide pdf).

Why one file per language rather than the Babel catalogue: the guide is long prose whose
paragraphs are translated as a whole, by people who work on documents; a catalogue of
paragraph-sized msgids would go fuzzy at every edit of the English. A language is added
by copying `guide/en.md` to `guide/<code>.md` and translating it, keeping the same
headings in the same order (tests check that each language has the English structure);
a language without its file is shown the English guide, with a notice. See
docs/translations.md.

The Markdown is rendered with raw HTML turned off: the files are the project's own, and
still no tag in them reaches the page.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

__all__ = [
    "DEFAULT_LANGUAGE",
    "Guide",
    "available_languages",
    "load",
    "standalone_html",
]

DEFAULT_LANGUAGE = "en"
_PACKAGE = "journalist_app"
_FOLDER = "guide"
_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")


@dataclass(frozen=True)
class Guide:
    language: str  # the language of the text shown (the fallback's, if it fell back)
    title: str
    html: Markup
    contents: tuple[tuple[str, str], ...]  # (anchor, heading) of each section
    fell_back: bool  # the language asked for has no guide yet


def available_languages() -> list[str]:
    """The languages with a guide file, English first."""
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    codes = sorted(
        entry.name[: -len(".md")]
        for entry in folder.iterdir()
        if entry.name.endswith(".md") and _CODE.match(entry.name[: -len(".md")])
    )
    return sorted(codes, key=lambda code: code != DEFAULT_LANGUAGE)


def _slug(text: str, taken: set[str]) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    # Without the heading's number: an id that starts with a digit is no CSS selector.
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    base = re.sub(r"^[0-9-]+", "", words) or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


@cache
def _render(language: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    source = resources.files(_PACKAGE).joinpath(_FOLDER, f"{language}.md").read_text("utf-8")
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(source)
    title, contents, taken = "", [], set[str]()
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = tokens[i + 1].content
        if token.tag == "h1" and not title:
            title = text
        anchor = _slug(text, taken)
        token.attrSet("id", anchor)
        if token.tag == "h2":
            contents.append((anchor, text))
    return md.renderer.render(tokens, md.options, {}), title, tuple(contents)


def load(language: str) -> Guide:
    """The guide in `language` (a locale such as `fr` or `pt_BR`: its own file, else its
    base language's), else in English."""
    available = available_languages()
    wanted = [language, language.split("_")[0]]
    found = next((code for code in wanted if code in available), DEFAULT_LANGUAGE)
    html, title, contents = _render(found)
    # The project's own Markdown, rendered with raw HTML off: markup it made itself.
    markup = Markup(html)  # noqa: S704  # nosec B704
    return Guide(found, title, markup, contents, fell_back=found not in wanted)


_DOCUMENT = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
@page {{ size: A4; margin: 20mm 18mm; }}
body {{ font-family: sans-serif; font-size: 10.5pt; line-height: 1.45; color: #000; }}
h1 {{ font-size: 20pt; }}
h2 {{ font-size: 14pt; margin-top: 1.6em; break-after: avoid; }}
h3 {{ font-size: 11.5pt; break-after: avoid; }}
table {{ border-collapse: collapse; width: 100%; }}
tr, li {{ break-inside: avoid; }}
th, td {{ border: 1px solid #777; padding: 3pt 5pt; vertical-align: top; text-align: left; }}
code {{ font-size: 9.5pt; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def standalone_html(language: str) -> str:
    """One self-contained HTML document of the guide (nothing loaded from anywhere),
    printed to PDF by `backupctl guide pdf`."""
    guide = load(language)
    return _DOCUMENT.format(lang=guide.language, title=escape(guide.title), body=guide.html)
