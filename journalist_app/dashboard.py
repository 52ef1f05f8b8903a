"""The dashboard: what needs attention now. Charts are server-rendered SVG (no script,
no third-party assets)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from journalist_app.context import current_reviewer, db
from vault.services import dashboard as dashboard_service

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.route("/")
def index() -> ResponseReturnValue:
    board = dashboard_service.build(db(), current_reviewer())
    return render_template("dashboard/index.html", board=board)
