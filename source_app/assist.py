"""ASSIST: what help a source needs, how soon, their consent, and how to reach them.

It starts with one question, before anything else: did the violence happen in the last
3 days? If so (or if the source is not sure), emergency care comes first: PEP against
HIV and emergency contraception only work within days. That first answer only chooses
the next page: it is never put in a URL (URLs reach access logs) nor kept anywhere; the
form asks it again, among the sealed answers.

The care tier (vault.services.care): besides the sealed submission (the evidence path,
opened only on the air-gapped workstation), a care copy of the request is sealed to the
on-duty care team, unless the source chooses the evidence path only. The form says,
before sending, who can read the request and when (`care_reach`). The choice itself
(`care_path`) is read here and never enters the sealed document: it only decides
whether a care copy is made.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from source_app import consent
from source_app import forms_labels as labels
from source_app.alert import SHOW_REGIONS, form_page, seal
from source_app.auth import current_source, is_logged_in, source_required
from source_app.context import get_config, get_db, get_runtime
from vault import notifications, reports
from vault.errors import VaultError
from vault.services import care
from vault.transaction import after_commit, savepoint

bp = Blueprint("assist", __name__, url_prefix="/help")

CARE_PATH = "care_path"
# The choices of `care_path`: the care team too (the default), or the evidence path only.
_CARE_PATHS = {(): True, ("care",): True, ("evidence",): False}


def _assist_page(**extra: Any) -> ResponseReturnValue:
    """The ASSIST form, saying who can read the help request if it is sent now."""
    return form_page("assist.html", care_reach=care.care_reach(get_db()).value, **extra)


def _seal_care_copy(document: dict[str, Any]) -> bool:
    """Seal the care copy for the source just recorded; False if none was made.

    The evidence is already stored: a failure here costs the care copy only.
    """
    source = current_source()
    if source is None:
        return False
    runtime = get_runtime()
    locale = get_locale()
    try:
        # A savepoint: a failure undoes the care copy only, never the evidence.
        with savepoint(get_db()):
            made = care.seal_care_request(
                get_db(),
                runtime.keyring,
                source,
                document,
                str(locale) if locale is not None else "en",
                runtime.submission_fingerprint,
            )
    except VaultError as exc:
        current_app.logger.error("care copy failed: %s", type(exc).__name__)
        return False
    if made is not None and made.urgent:
        # "Something waits", nothing more (vault.notifications), once the request is
        # stored; never fails the request.
        config = get_config()
        after_commit(
            get_db(),
            lambda: notifications.enqueue_care_waiting(runtime.redis, config, escalation=False),
        )
    return made is not None


@bp.get("/")
@source_required
def start() -> ResponseReturnValue:
    return form_page("assist_start.html")


@bp.get("/now")
def emergency() -> ResponseReturnValue:
    """Open to everyone, logged in or not: the landing page links here, since someone
    hurt in the last days needs this before a codename or anything else."""
    return render_template("assist_now.html", logged_in=is_logged_in())


@bp.get("/form")
@source_required
def form() -> ResponseReturnValue:
    return _assist_page(**consent.page_context(consent.known_consent()))


@bp.post("/form")
@source_required
def submit() -> ResponseReturnValue:
    known = consent.known_consent()
    if SHOW_REGIONS in request.form:  # the page again, with the chosen country's regions
        return _assist_page(**consent.page_context(known))
    fields = {key: request.form.getlist(key) for key in request.form}
    to_care = _CARE_PATHS.get(tuple(fields.pop(CARE_PATH, ())))
    try:
        if to_care is None:
            raise reports.ReportError(["form:unexpected"])
        document = reports.assist_from_form(fields)
    except reports.ReportError as exc:
        errors = labels.error_messages(exc.codes)
        return _assist_page(errors=errors, status=400, **consent.page_context(known))
    seal(document, consent_state=consent.state_after(known, document))
    if to_care and not _seal_care_copy(document):
        flash(
            _(
                "Nobody in the care team can read requests online right now: your request "
                "is kept with the reports, for our team's offline computer."
            ),
            "ok",
        )
    flash(
        _(
            "Thank you. Your request is encrypted and safely stored. Our team will answer "
            "here as soon as possible: come back with your codename."
        ),
        "ok",
    )
    return redirect(url_for("lookup.lookup"))
