"""SVG charts of a release: victims over time, by region, by act (each when the release
has that dimension), from its one-dimension totals.

Plain SVG: no script, no style sheet, no font or image from elsewhere, so a chart opens
anywhere (and in the reviewer interface, whose pages run no JavaScript). Accessible: the
chart is `role="img"` labelled by its `<title>` and `<desc>` (what it shows, the
release, k, the method), and every bar carries its category and its value as text, so
the chart reads without colour or sight of the bars. A suppressed total is drawn as an
empty, dashed bar labelled "suppressed", never as zero.

In words, in one language (`vault.observatory_words.Words`: English unless told): the
reviewer app draws them in the viewer's language, the workstation in the release's
(`release make --language`). Categories are named, never shown as codes; the chart
declares its language (`lang`, and `direction` for a right-to-left one).
"""

from __future__ import annotations

from typing import Any

# saxutils only escapes what we write; nothing is parsed.
from xml.sax.saxutils import escape, quoteattr  # nosec B406

from vault.observatory_words import N_, Words
from workstation.observatory.release_table import TOTAL

__all__ = ["CHARTS", "chart_svg", "charts"]

# chart name -> (dimension, title)
CHARTS = {
    "time": ("period", N_("Victims over time")),
    "region": ("region", N_("Victims by region")),
    "act": ("act", N_("Victims by principal act")),
}
_DESC = N_(
    "%(title)s, release %(release)s of %(created)s: %(categories)d categories, %(hidden)d "
    "suppressed (fewer than %(k)d incidents, or hidden so that totals cannot reveal one)."
)
_DESC_DP = N_("With differentially private noise, epsilon %(epsilon)s.")
_DESC_BARS = N_("Each bar is labelled with its category and value.")
_SCOPE = N_("k = %(k)d; %(countries)s, %(first)s to %(last)s")
_ALL_COUNTRIES = N_("all countries")
_SUPPRESSED = N_("suppressed")
_FOOT = N_("Victims, from sources who consented to statistics.")
_BAR = 22
_GAP = 8
_CHAR_W = 7  # a generous average width of a 13px sans-serif character
_MIN_LABEL_W = 190
_PLOT_W = 360
_VALUE_W = 90


def _series(document: dict[str, Any], dimension: str) -> list[tuple[str, int | None]] | None:
    dims = [d["name"] for d in document["dimensions"]]
    if dimension not in dims:
        return None
    at = dims.index(dimension)
    values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    categories = document["dimensions"][at]["categories"]
    out = []
    for category in categories:
        key = tuple(category if i == at else TOTAL for i in range(len(dims)))
        out.append((category, values[key]))
    return out


def chart_svg(document: dict[str, Any], name: str, words: Words | None = None) -> str | None:
    """The chart `name` (see CHARTS) as SVG text, in `words`' language (English by
    default); None if the release lacks its dimension."""
    words = words or Words.of("en")
    dimension, title_message = CHARTS[name]
    series = _series(document, dimension)
    if series is None:
        return None
    title = words.gettext(title_message)
    labelled = [(words.category(dimension, category), value) for category, value in series]
    shown = [v for _, v in series if v is not None]
    top = max(shown, default=0) or 1
    hidden = sum(1 for _, v in series if v is None)
    label_w = max(_MIN_LABEL_W, 12 + _CHAR_W * max((len(t) for t, _ in labelled), default=0))
    height = 60 + len(series) * (_BAR + _GAP) + 30
    width = label_w + _PLOT_W + _VALUE_W
    k = document["method"]["k"]
    dp = document["method"].get("differential_privacy")
    desc = words.gettext(
        _DESC,
        title=title,
        release=document["id"],
        created=document["created"],
        categories=len(series),
        hidden=hidden,
        k=k,
    )
    if dp:
        desc += " " + words.gettext(_DESC_DP, epsilon=dp["epsilon"])
    desc += " " + words.gettext(_DESC_BARS)
    direction = ' direction="rtl"' if words.rtl else ""
    suppressed = escape(words.gettext(_SUPPRESSED))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="t-{name} d-{name}" '
        f'lang={quoteattr(words.locale)}{direction} font-family="sans-serif" font-size="13">',
        f'<title id="t-{name}">{escape(title)}</title>',
        f'<desc id="d-{name}">{escape(desc)}</desc>',
        f'<text x="0" y="20" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="0" y="40" fill="#333">{escape(_scope(document, words))}</text>',
    ]
    y = 60
    for text, value in labelled:
        label = escape(text)
        parts.append(f'<g><text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{label}</text>')
        if value is None:
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{_PLOT_W // 4}" height="{_BAR}" '
                'fill="none" stroke="#555" stroke-dasharray="4 3"/>'
                f'<text x="{label_w + _PLOT_W // 4 + 6}" y="{y + 16}" fill="#333">'
                f"{suppressed}</text></g>"
            )
        else:
            w = round(_PLOT_W * value / top)
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w}" height="{_BAR}" fill="#1f4e79">'
                f"<title>{label}: {value}</title></rect>"
                f'<text x="{label_w + w + 6}" y="{y + 16}">{value}</text></g>'
            )
        y += _BAR + _GAP
    parts.append(f'<text x="0" y="{y + 18}" fill="#333">{escape(words.gettext(_FOOT))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _scope(document: dict[str, Any], words: Words) -> str:
    scope = document["scope"]
    countries = words.countries(scope["countries"]) or words.gettext(_ALL_COUNTRIES)
    return words.gettext(
        _SCOPE,
        k=document["method"]["k"],
        countries=countries,
        first=words.period(scope["first_month"]),
        last=words.period(scope["last_month"]),
    )


def charts(document: dict[str, Any], words: Words | None = None) -> dict[str, str]:
    """Every chart the release allows, in `words`' language: name -> SVG."""
    words = words or Words.of("en")
    out = {}
    for name in CHARTS:
        svg = chart_svg(document, name, words)
        if svg is not None:
            out[name] = svg
    return out
