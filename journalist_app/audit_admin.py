"""The audit log for admins: browse page by page, filter, export as CSV. The service
enforces the admin role and records both the access and every refusal.

The filters are one GET form (a toolbar): category, actor, object (a case reference,
a designation, a username or a short id) and a date range; they combine, and each page
link keeps them. A row of plain links above the table filters by category in one
click ("All" and one per category), keeping the other filters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from markupsafe import Markup

from journalist_app import audit_labels
from journalist_app.context import current_reviewer, db
from vault.services import audit_categories, audit_log
from web_shared.params import query_int

bp = Blueprint("audit_admin", __name__, url_prefix="/admin/audit")

_TEXT_MAX = 64


def _date(name: str, errors: list[str]) -> dt.date | None:
    raw = request.args.get(name, "").strip()[:10]
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(name)
        return None


def _filter(errors: list[str]) -> audit_log.AuditFilter:
    category = request.args.get("category", "")
    return audit_log.AuditFilter(
        category=category if category in audit_categories.CATEGORIES else None,
        action=request.args.get("action", "")[:_TEXT_MAX] or None,
        actor=request.args.get("actor", "")[:36] or None,
        target=request.args.get("object", "").strip()[:_TEXT_MAX] or None,
        since=_date("since", errors),
        until=_date("until", errors),
    )


def _query(wanted: audit_log.AuditFilter) -> dict[str, Any]:
    """The filter as query arguments, for the page links (empty parts left out)."""
    values = {
        "category": wanted.category,
        "action": wanted.action,
        "actor": wanted.actor,
        "object": wanted.target,
        "since": wanted.since.isoformat() if wanted.since else None,
        "until": wanted.until.isoformat() if wanted.until else None,
    }
    return {key: value for key, value in values.items() if value}


@bp.route("/")
def index() -> str:
    page = query_int(request.args.get("page"), 1)
    errors: list[str] = []
    wanted = _filter(errors)
    found = audit_log.browse(db(), current_reviewer(), page, wanted)
    return render_template(
        "audit/index.html",
        log=found,
        wanted=wanted,
        query=_query(wanted),
        without_action={k: v for k, v in _query(wanted).items() if k != "action"},
        # The category links keep the other filters (a new category: from page 1).
        without_category={k: v for k, v in _query(wanted).items() if k != "category"},
        date_errors=errors,
        actors=audit_log.actors(db()),
        categories=[(c, audit_labels.CATEGORY_LABELS[c]) for c in audit_categories.CATEGORIES],
        category_of=audit_categories.category_of,
        category_labels=audit_labels.CATEGORY_LABELS,
        action_label=audit_labels.action_label,
        kind_label=audit_labels.kind_label,
        object_text=audit_labels.object_text,
        short_id=audit_labels.short_id,
        describe=lambda event: audit_labels.describe_detail(
            event.action, audit_log.detail_of(event), found.objects
        ),
        system=audit_log.SYSTEM,
        no_date=_("Write dates as YYYY-MM-DD."),
        verify_command=Markup("<code>backupctl audit verify</code>"),
        code=lambda text: Markup("<code>%s</code>") % text,
    )


@bp.route("/export.csv")
def export() -> Response:
    body = "".join(audit_log.export_csv(db(), current_reviewer()))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit-log.csv"},
    )
