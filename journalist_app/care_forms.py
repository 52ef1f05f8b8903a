"""Forms of the care queue and of the on-duty care team (each carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import AnyOf

from journalist_app.forms import at_most, required
from vault.services.replies import MAX_REPLY_CHARS


class CareActionForm(FlaskForm):
    """Take or close: the CSRF token is the whole form."""


class CareAnswerForm(FlaskForm):
    message = TextAreaField(_l("Answer"), validators=[required(), at_most(MAX_REPLY_CHARS)])
    # Optional: a partner chosen here also refers the source, as the refer form does.
    org = SelectField(
        _l("Refer to a partner"),
        default="",
        validate_choice=False,
        description=_l("Optional: the answer also refers the source, with their consent"),
    )


class CareReferForm(FlaskForm):
    org = SelectField(_l("Refer to"), validators=[required()], validate_choice=False)


class CareDutyForm(FlaskForm):
    on_duty = HiddenField(validators=[AnyOf(["0", "1"])])


# The ASSIST answers, as the queue shows them (codes from vault.reports).
NEED_LABELS = {
    "medical": _l("Medical care"),
    "psychosocial": _l("Psychosocial support"),
    "legal": _l("Legal help"),
    "safety": _l("Safety"),
    "livelihood": _l("Livelihood"),
}
URGENCY_LABELS = {
    "today": _l("Today"),
    "this_week": _l("This week"),
    "later": _l("Later"),
}
RECENT_LABELS = {"yes": _l("Yes"), "no": _l("No"), "unsure": _l("Not sure")}
