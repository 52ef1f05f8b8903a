"""ALERT: a structured report of what happened, every question optional.

One page, one POST: the answers never wait on the server between steps (not even in the
encrypted session). The view turns the form into a `vault.reports` document, seals it
like any message together with the chosen files, and forgets it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from source_app import forms_labels as labels
from source_app.auth import source_required, submit_as_current_source
from source_app.context import get_config, get_db
from source_app.errors import human_size, quota_hint, refusal_text
from source_app.receipts import flash_receipt_codes
from source_app.uploads import chosen_documents
from vault import reports
from vault.consent_record import CONSENT_BEARING
from vault.errors import QuotaExceededError, StorageFullError
from vault.models import SubmissionKind
from vault.services import consents

bp = Blueprint("alert", __name__)


# The button that asks for the regions of the chosen country (a form cannot change
# without JavaScript): the page comes back with everything typed, nothing is sent.
SHOW_REGIONS = "show_regions"


def form_page(
    template: str,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    prefill: Mapping[str, str] | None = None,
    **extra: Any,
) -> Any:
    """A form page, filled with what was sent (a source must not retype anything), or on
    a fresh page with `prefill` (the source's current consent answers).

    No value is echoed longer than any answer may be: a refused 10 MB field must not
    come back as a 10 MB page over a slow Tor circuit.
    """
    extra.setdefault("notes", [])
    extra.setdefault("consent_unknown", [])
    sent = request.form if request.method == "POST" else MultiDict(prefill or {})
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


def seal(
    document: dict[str, Any],
    documents: list[Any] | None = None,
    *,
    consent_state: Mapping[str, bool | None] | None = None,
) -> None:
    """Seal a report document (and files) for the logged-in source; show its receipts.
    `consent_state`: for a document carrying consent, the answers known after it."""
    created = submit_as_current_source(
        reports.dumps(document), documents or [], consent_state=consent_state
    )
    flash_receipt_codes(created)
    if document["kind"] in CONSENT_BEARING:  # flag it for the team (no content)
        for submission in created:
            if submission.kind is SubmissionKind.MESSAGE:
                consents.note_document(get_db(), submission)


@bp.get("/report")
@source_required
def form() -> ResponseReturnValue:
    return form_page("alert.html")


@bp.post("/report")
@source_required
def submit() -> ResponseReturnValue:
    documents = chosen_documents(request.files.getlist("fh"))
    if SHOW_REGIONS in request.form:
        # Sent URL-encoded (the button's formenctype): a file field brings only names.
        chosen = [name for name in request.form.getlist("fh") if name] or documents
        notes = [_("The files you chose were not sent: choose them again.")] if chosen else []
        return form_page("alert.html", notes=notes)
    fields = {key: request.form.getlist(key) for key in request.form}
    try:
        document = reports.alert_from_form(
            fields, today=dt.date.today(), with_files=bool(documents)
        )
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
