"""What both interfaces' translation tests share: a pseudo-locale that brackets every
translated string, and the text a reader sees on a page (attributes and buttons too)."""

from __future__ import annotations

from html.parser import HTMLParser

from babel.support import NullTranslations

__all__ = ["Bracketing", "VisibleText"]

_ATTRIBUTES = ("placeholder", "title", "alt", "aria-label")


class Bracketing(NullTranslations):
    """A pseudo-locale: every translated string comes back as ⟦string⟧."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"

    def pgettext(self, context: str, message: str) -> str:
        return f"⟦{message}⟧"

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.ngettext(singular, plural, n)

    ugettext = gettext
    ungettext = ngettext
    upgettext = pgettext
    unpgettext = npgettext


class VisibleText(HTMLParser):
    """Collects what a reader sees or hears: text, labelling attributes, button values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0  # inside <style> (pages carry their stylesheet inline)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._hidden += 1
            return
        values = dict(attrs)
        self.parts += [values[name] or "" for name in _ATTRIBUTES if name in values]
        if tag == "input" and values.get("type") in ("submit", "button", "reset"):
            self.parts.append(values.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
