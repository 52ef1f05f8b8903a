"""A public, read-only page of the observatory's published figures, at `/figures`.

Off unless the admin sets BACKUP_PUBLIC_FIGURES (docs/admin.md): then it lists the
releases an admin published (vault.services.releases), each with its scope, method and
one table per dimension, every category in words in the reader's language
(vault.observatory_words: no code shown). Suppressed counts are shown as such, never as numbers. No
script, nothing loaded from elsewhere, no form: a page any reader of the onion service
can open. When off, the address does not exist (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from source_app.context import get_config, get_db
from vault.services import releases
from web_shared.observatory_words import viewer_words

__all__ = ["bp"]

bp = Blueprint("figures", __name__)


def _margins(document: dict[str, Any]) -> list[tuple[str, list[tuple[str, int | None]]]]:
    total = document["method"]["total_marker"]
    values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    size = len(document["dimensions"])
    out = []
    for at, dim in enumerate(document["dimensions"]):
        rows = [
            (cat, values[tuple(cat if i == at else total for i in range(size))])
            for cat in dim["categories"]
        ]
        out.append((dim["name"], rows))
    return out


@bp.get("/figures")
def index() -> ResponseReturnValue:
    if not get_config().public_figures:
        abort(404)
    shown = []
    for release in releases.visible_releases(get_db(), None):
        document = releases.document_of(release)
        marker = document["method"]["total_marker"]
        everything = [marker] * len(document["dimensions"])
        grand = next(e["value"] for e in document["entries"] if e["key"] == everything)
        shown.append({"release": release, "margins": _margins(document), "total": grand})
    labels = {
        "period": _("By month or year"),
        "country": _("By country"),
        "region": _("By region"),
        "act": _("By act of violence"),
        "victim_sex": _("By sex of the victims"),
        "age_band": _("By age of the victims"),
        "perpetrator": _("By perpetrator"),
    }
    words = viewer_words()
    return render_template(
        "figures.html",
        releases=shown,
        dimension_labels=labels,
        category=words.category,
        countries=words.countries,
        period=words.period,
    )
