"""SVG charts of a release: victims over time, by region, by act (each when the release
has that dimension), from its one-dimension totals.

Plain SVG: no script, no style sheet, no font or image from elsewhere, so a chart opens
anywhere (and in the reviewer interface, whose pages run no JavaScript). Accessible: the
chart is `role="img"` labelled by its `<title>` and `<desc>` (what it shows, the
release, k, the method), and every bar carries its category and its value as text, so
the chart reads without colour or sight of the bars. A suppressed total is drawn as an
empty, dashed bar labelled "suppressed", never as zero.
"""

from __future__ import annotations

from typing import Any

# saxutils only escapes what we write; nothing is parsed.
from xml.sax.saxutils import escape  # nosec B406

from workstation.observatory.release_table import TOTAL

__all__ = ["CHARTS", "chart_svg", "charts"]

# chart name -> (dimension, title)
CHARTS = {
    "time": ("period", "Victims over time"),
    "region": ("region", "Victims by region"),
    "act": ("act", "Victims by principal act"),
}
_BAR = 22
_GAP = 8
_LABEL_W = 190
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


def chart_svg(document: dict[str, Any], name: str) -> str | None:
    """The chart `name` (see CHARTS) as SVG text; None if the release lacks its dimension."""
    dimension, title = CHARTS[name]
    series = _series(document, dimension)
    if series is None:
        return None
    shown = [v for _, v in series if v is not None]
    top = max(shown, default=0) or 1
    hidden = sum(1 for _, v in series if v is None)
    height = 60 + len(series) * (_BAR + _GAP) + 30
    width = _LABEL_W + _PLOT_W + _VALUE_W
    k = document["method"]["k"]
    dp = document["method"].get("differential_privacy")
    desc = (
        f"{title}, release {document['id']} of {document['created']}: "
        f"{len(series)} categories, {hidden} suppressed (fewer than {k} incidents, or hidden "
        f"so that totals cannot reveal one). "
        + (f"With differentially private noise, epsilon {dp['epsilon']}. " if dp else "")
        + "Each bar is labelled with its category and value."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="t-{name} d-{name}" '
        'font-family="sans-serif" font-size="13">',
        f'<title id="t-{name}">{escape(title)}</title>',
        f'<desc id="d-{name}">{escape(desc)}</desc>',
        f'<text x="0" y="20" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="0" y="40" fill="#333">k = {k}; scope {escape(_scope(document))}</text>',
    ]
    y = 60
    for category, value in series:
        label = escape(category)
        parts.append(f'<g><text x="{_LABEL_W - 6}" y="{y + 16}" text-anchor="end">{label}</text>')
        if value is None:
            parts.append(
                f'<rect x="{_LABEL_W}" y="{y}" width="{_PLOT_W // 4}" height="{_BAR}" '
                'fill="none" stroke="#555" stroke-dasharray="4 3"/>'
                f'<text x="{_LABEL_W + _PLOT_W // 4 + 6}" y="{y + 16}" fill="#333">'
                "suppressed</text></g>"
            )
        else:
            w = round(_PLOT_W * value / top)
            parts.append(
                f'<rect x="{_LABEL_W}" y="{y}" width="{w}" height="{_BAR}" fill="#1f4e79">'
                f"<title>{label}: {value}</title></rect>"
                f'<text x="{_LABEL_W + w + 6}" y="{y + 16}">{value}</text></g>'
            )
        y += _BAR + _GAP
    parts.append(
        f'<text x="0" y="{y + 18}" fill="#333">'
        f"{escape('Victims, from sources who consented to statistics.')}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _scope(document: dict[str, Any]) -> str:
    scope = document["scope"]
    countries = ", ".join(scope["countries"]) or "all countries"
    return f"{countries}, {scope['first_month']} to {scope['last_month']}"


def charts(document: dict[str, Any]) -> dict[str, str]:
    """Every chart the release allows: name -> SVG."""
    out = {}
    for name in CHARTS:
        svg = chart_svg(document, name)
        if svg is not None:
            out[name] = svg
    return out
