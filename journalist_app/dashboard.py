"""The dashboard: what needs attention now. Charts are server-rendered SVG (no script,
no third-party assets)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from journalist_app.context import current_reviewer, db, runtime
from vault.db import utcnow
from vault.services import dashboard as dashboard_service
from vault.services import releases
from web_shared.observatory_words import viewer_words

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.route("/")
def index() -> ResponseReturnValue:
    reviewer = current_reviewer()
    board = dashboard_service.build(db(), reviewer)
    config = runtime().config
    early = releases.warnings_for(
        db(),
        reviewer,
        rise_percent=config.early_warning_rise_percent,
        periods=config.early_warning_periods,
    )
    words = viewer_words()
    return render_template(
        "dashboard/index.html",
        board=board,
        early=early,
        region=words.with_code,
        period=words.period,
        now=utcnow(),
    )
