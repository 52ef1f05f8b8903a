"""The consent of a case's sources: shown on the case page, recorded from what the
workstation shows (the document, an answer per purpose, the check code), and flagged in
the case list and the inbox while a newer consent document waits to be recorded.

The view parses the form and calls `vault.services.consents`, which checks the role,
the document, the check code and the order in time, and audits."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from journalist_app.context import current_reviewer, db
from journalist_app.forms import at_most, required
from vault.consent_record import Answer, purposes
from vault.errors import NotFoundError
from vault.models import Submission
from vault.services import consents
from vault.services.consents import ConsentState

bp = Blueprint("case_consent", __name__, url_prefix="/cases")

PURPOSE_LABELS = {
    "handle_case": _l("WWoW may handle the case"),
    "refer_partner": _l("Referral to a partner professional"),
    "statistics": _l("Anonymous statistics"),
    "court": _l("Use in a court case"),
    "contact_partner": _l("Contact by a partner"),
}
ANSWER_LABELS = {
    Answer.YES: _l("yes"),
    Answer.NO: _l("no"),
    Answer.UNKNOWN: _l("not known (counts as no)"),
}


class ConsentForm(FlaskForm):
    """The answers come as `answer_<purpose>` radios, checked in the view against the
    schema's purposes (their number follows `vault.reports.CONSENTS`)."""

    document = SelectField(_l("Consent document"), validators=[required()], validate_choice=False)
    code = StringField(_l("Check code"), validators=[required(), at_most(16)])


@bp.app_context_processor
def _labels() -> dict[str, object]:
    return {
        "consent_purposes": purposes(),
        "purpose_labels": PURPOSE_LABELS,
        "answer_labels": ANSWER_LABELS,
        "answers": list(Answer),
    }


@bp.app_template_global()
def consent_states(case_uuid: str) -> list[ConsentState]:
    return consents.case_states(db(), current_reviewer(), case_uuid)


@bp.app_template_global()
def consent_documents(case_uuid: str) -> list[tuple[Submission, bool]]:
    return consents.case_documents(db(), current_reviewer(), case_uuid)


@bp.app_template_global()
def sources_awaiting_consent(source_uuids: list[str]) -> set[str]:
    """For the inbox: which of these sources sent a consent document not recorded yet."""
    return consents.source_uuids_awaiting_record(db(), source_uuids)


@bp.app_template_global()
def cases_awaiting_consent(case_ids: list[int]) -> set[int]:
    return consents.cases_awaiting_record(db(), case_ids)


def _answers() -> dict[str, Answer] | None:
    found = {}
    for purpose in purposes():
        values = request.form.getlist(f"answer_{purpose}")
        if len(values) != 1 or values[0] not in {a.value for a in Answer}:
            return None
        found[purpose] = Answer(values[0])
    return found


@bp.route("/<case_uuid>/consent", methods=["POST"])
def record(case_uuid: str) -> ResponseReturnValue:
    form = ConsentForm()
    answers = _answers()
    back = redirect(url_for("cases.show", case_uuid=case_uuid) + "#consent")
    if not form.validate_on_submit() or answers is None:
        flash(
            _("Choose the document and an answer for every purpose; nothing was recorded."), "error"
        )
        return back
    try:
        consents.record_consent(
            db(),
            current_reviewer(),
            case_uuid,
            form.document.data or "",
            answers,
            code=form.code.data or "",
        )
    except consents.CheckCodeMismatchError:
        flash(
            _(
                "The check code does not match that document and those answers: compare them "
                "with the workstation. Nothing was recorded."
            ),
            "error",
        )
    except consents.StaleConsentError:
        flash(
            _("A newer consent of this source is already recorded. Nothing was recorded."), "error"
        )
    except (consents.ConsentError, NotFoundError):
        flash(_("That consent was not accepted; nothing was recorded."), "error")
    else:
        flash(_("Consent recorded."), "success")
    return back
