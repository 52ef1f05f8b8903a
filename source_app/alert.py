"""ALERT: a structured report of what happened, every question optional.

One page, one POST: the answers never wait on the server between steps (not even in the
encrypted session). The view turns the form into a `vault.reports` document, seals it
like any message together with the chosen files, and forgets it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from source_app import forms_labels as labels
from source_app.auth import source_required, submit_as_current_source
from source_app.context import get_config
from source_app.errors import human_size, quota_hint, refusal_text
from source_app.receipts import flash_receipt_codes
from source_app.uploads import chosen_documents
from vault import reports
from vault.errors import QuotaExceededError, StorageFullError

bp = Blueprint("alert", __name__)


def form_page(
    template: str,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    **extra: Any,
) -> Any:
    """A form page, filled with what was sent (a source must not retype anything).

    No value is echoed longer than any answer may be: a refused 10 MB field must not
    come back as a 10 MB page over a slow Tor circuit.
    """
    sent = request.form
    shown = MultiDict([(k, v[: reports.MAX_LONG_TEXT]) for k, v in sent.items(multi=True)])
    html = render_template(
        template,
        labels=labels,
        form=shown,
        errors=errors or [],
        max_upload=human_size(get_config().max_upload_bytes),
        quota_hint=quota_hint(),
        max_short=reports.MAX_SHORT_TEXT,
        max_long=reports.MAX_LONG_TEXT,
        today=dt.date.today().isoformat(),
        **extra,
    )
    return html, status


def seal(document: dict[str, Any], documents: list[Any] | None = None) -> None:
    """Seal a report document (and files) for the logged-in source; show its receipts."""
    created = submit_as_current_source(reports.dumps(document), documents or [])
    flash_receipt_codes(created)


@bp.get("/report")
@source_required
def form() -> ResponseReturnValue:
    return form_page("alert.html")


@bp.post("/report")
@source_required
def submit() -> ResponseReturnValue:
    documents = chosen_documents(request.files.getlist("fh"))
    fields = {key: request.form.getlist(key) for key in request.form}
    try:
        document = reports.alert_from_form(fields, today=dt.date.today())
    except reports.ReportError as exc:
        errors = labels.error_messages(exc.codes)
        if documents:  # aborted by the teardown: they must be chosen again
            errors.append(_("The files you chose were not sent: choose them again."))
        return form_page("alert.html", errors=errors, status=400)
    try:
        seal(document, documents)
    except (StorageFullError, QuotaExceededError) as exc:
        errors = [refusal_text(exc)]
        if documents:
            errors.append(_("The files you chose were not sent: choose them again."))
        status = 507 if isinstance(exc, StorageFullError) else 413
        return form_page("alert.html", errors=errors, status=status)
    flash(
        _(
            "Thank you. Your report is encrypted and safely stored. If you need help, you "
            "can ask for it below."
        ),
        "ok",
    )
    return redirect(url_for("assist.start"))
