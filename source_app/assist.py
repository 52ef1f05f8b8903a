"""ASSIST: what help a source needs, how soon, their consent, and how to reach them.

It starts with one question, before anything else: did the violence happen in the last
3 days? If so (or if the source is not sure), emergency care comes first: PEP against
HIV and emergency contraception only work within days. That first answer only chooses
the next page: it is never put in a URL (URLs reach access logs) nor kept anywhere; the
form asks it again, among the sealed answers.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from source_app import forms_labels as labels
from source_app.alert import form_page, seal
from source_app.auth import is_logged_in, source_required
from vault import reports

bp = Blueprint("assist", __name__, url_prefix="/help")


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
    return form_page("assist.html")


@bp.post("/form")
@source_required
def submit() -> ResponseReturnValue:
    fields = {key: request.form.getlist(key) for key in request.form}
    try:
        document = reports.assist_from_form(fields)
    except reports.ReportError as exc:
        return form_page("assist.html", errors=labels.error_messages(exc.codes), status=400)
    seal(document)
    flash(
        _(
            "Thank you. Your request is encrypted and safely stored. Our team will answer "
            "here as soon as possible: come back with your codename."
        ),
        "ok",
    )
    return redirect(url_for("lookup.lookup"))


@bp.route("/consent", methods=["GET", "POST"])
@source_required
def consent() -> ResponseReturnValue:
    """Consent can change at any time: each change is a new sealed document."""
    if request.method == "GET":
        return form_page("consent.html")
    fields = {key: request.form.getlist(key) for key in request.form}
    try:
        document = reports.consent_from_form(fields)
    except reports.ReportError as exc:
        return form_page("consent.html", errors=labels.error_messages(exc.codes), status=400)
    seal(document)
    flash(_("Thank you. Your choices are saved. You can change them again at any time."), "ok")
    return redirect(url_for("lookup.lookup"))
