"""Retention, for admins: preview the inactive sources outside open cases, then delete
exactly those (re-checked) through the background deletion job."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from journalist_app.context import current_reviewer, db, runtime
from vault.services import retention
from web_shared.params import query_int

bp = Blueprint("retention", __name__, url_prefix="/admin/retention")
DEFAULT_DAYS = 365


def _days(raw: str | None) -> int:
    return query_int(raw, DEFAULT_DAYS, max_digits=5)


@bp.route("/")
def preview() -> ResponseReturnValue:
    days = _days(request.args.get("days"))
    try:
        found = retention.preview(db(), current_reviewer(), days)
    except retention.InvalidRetentionError:
        flash(_("The period must be at least %(n)s days.", n=retention.MIN_DAYS), "error")
        return redirect(url_for("retention.preview"))
    return render_template("retention/preview.html", days=days, candidates=found)


@bp.route("/apply", methods=["POST"])
def apply() -> ResponseReturnValue:
    # CSRFProtect has checked the token; the uuids are those the preview listed.
    days = _days(request.form.get("days"))
    try:
        n = retention.apply(
            db(), runtime().redis, current_reviewer(), days, request.form.getlist("source")
        )
    except retention.InvalidRetentionError:
        n = 0
    flash(
        ngettext("%(num)s source is being deleted.", "%(num)s sources are being deleted.", n),
        "success",
    )
    return redirect(url_for("retention.preview", days=days))
