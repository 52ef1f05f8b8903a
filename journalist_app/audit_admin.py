"""The audit log for admins: browse page by page, export as CSV. The service enforces
the admin role and records both the access and every refusal."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from journalist_app.context import current_reviewer, db
from vault.services import audit_log
from webcore.params import query_int

bp = Blueprint("audit_admin", __name__, url_prefix="/admin/audit")


@bp.route("/")
def index() -> str:
    page = query_int(request.args.get("page"), 1)
    action = request.args.get("action", "")[:64] or None
    found = audit_log.browse(db(), current_reviewer(), page, action)
    return render_template("audit/index.html", log=found, action=action or "")


@bp.route("/export.csv")
def export() -> Response:
    body = "".join(audit_log.export_csv(db(), current_reviewer()))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit-log.csv"},
    )
