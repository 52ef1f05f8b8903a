"""Legal hold on the case page: shown to everyone who works the case, set and lifted by
admins (the service checks the role and audits; a refusal is recorded there)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from journalist_app.context import current_reviewer, db
from journalist_app.forms import at_most, required
from vault.models import Case
from vault.services import legal_hold
from vault.services.legal_hold import HoldView

bp = Blueprint("case_hold", __name__, url_prefix="/cases")


class HoldForm(FlaskForm):
    reason = TextAreaField(
        _l("Why (who asked for it, their reference)"),
        validators=[required(), at_most(legal_hold.REASON_MAX)],
    )


class LiftForm(FlaskForm):
    """CSRF only."""


@bp.app_template_global()
def legal_hold_of(case: Case) -> HoldView | None:
    return legal_hold.hold_of(db(), case)


@bp.app_template_global()
def cases_on_hold(case_ids: list[int]) -> set[int]:
    """For the case list: which of these cases are under legal hold."""
    return legal_hold.held_among(db(), case_ids)


@bp.app_template_global()
def legal_hold_form() -> HoldForm:
    return HoldForm(formdata=None)


def _back(case_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_uuid=case_uuid) + "#legal-hold")


@bp.route("/<case_uuid>/hold", methods=["POST"])
def place(case_uuid: str) -> ResponseReturnValue:
    form = HoldForm()
    if not form.validate_on_submit():
        flash(
            _(
                "Give the reason, in at most %(max)d characters; nothing was changed.",
                max=legal_hold.REASON_MAX,
            ),
            "error",
        )
        return _back(case_uuid)
    try:
        legal_hold.place(db(), current_reviewer(), case_uuid, form.reason.data or "")
    except legal_hold.AlreadyHeldError:
        flash(_("This case is already under legal hold."), "error")
    except legal_hold.InvalidReasonError:
        flash(_("Give the reason; nothing was changed."), "error")
    else:
        flash(_("Legal hold set: nothing of this case is deleted automatically."), "success")
    return _back(case_uuid)


@bp.route("/<case_uuid>/hold/lift", methods=["POST"])
def lift(case_uuid: str) -> ResponseReturnValue:
    if not LiftForm().validate_on_submit():
        flash(_("The form expired; nothing was changed."), "error")
        return _back(case_uuid)
    try:
        legal_hold.lift(db(), current_reviewer(), case_uuid)
    except legal_hold.NotHeldError:
        flash(_("This case is not under legal hold."), "error")
    else:
        flash(_("Legal hold lifted: the retention policy applies to this case again."), "success")
    return _back(case_uuid)
