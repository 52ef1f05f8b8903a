"""The observatory's words (vault.observatory_words) in the viewer's language.

Both apps show releases: the reviewer pages and the public /figures page name every
category in words through this Flask-Babel domain (the `observatory` catalogue in
vault/translations), in the language of the page being rendered.
"""

from __future__ import annotations

from flask_babel import Domain, get_locale

from vault.observatory_words import DOMAIN, TRANSLATIONS, Words

__all__ = ["viewer_words"]

_DOMAIN = Domain(translation_directories=str(TRANSLATIONS), domain=DOMAIN)


def viewer_words() -> Words:
    """Words in the language of the page being rendered."""
    locale = get_locale()
    return Words(_DOMAIN.get_translations(), str(locale) if locale is not None else "en")
