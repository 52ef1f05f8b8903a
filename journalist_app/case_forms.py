"""WTForms for case work. Every form carries a CSRF token; choices come from the domain
enums and the workflow's reason codes, never from free text."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from journalist_app.forms import at_most, required
from vault.models import CasePriority, CaseStatus, PartnerService, ReferralStatus
from vault.models.case import LABEL_MAX
from vault.models.partner import CONTACT_MAX, LANGUAGES_MAX, NAME_MAX, REGIONS_MAX
from vault.models.source import DESIGNATION_LENGTH
from vault.services.case_workflow import CREATION_STATUSES
from vault.services.notes import MAX_NOTE_CHARS

STATUS_LABELS = {
    CaseStatus.NEW: _l("New"),
    CaseStatus.TRIAGE: _l("Triage"),
    CaseStatus.VERIFIED: _l("Verified"),
    CaseStatus.REFERRED: _l("Referred"),
    CaseStatus.JUDICIAL: _l("Judicial"),
    CaseStatus.CLOSED: _l("Closed"),
    CaseStatus.DISCARDED: _l("Discarded"),
}
PRIORITY_LABELS = {
    CasePriority.LOW: _l("Low"),
    CasePriority.NORMAL: _l("Normal"),
    CasePriority.HIGH: _l("High"),
}
REASON_LABELS = {
    "duplicate": _l("Duplicate of another case"),
    "out_of_scope": _l("Out of scope"),
    "insufficient_information": _l("Insufficient information"),
    "source_withdrew": _l("The source withdrew"),
    "not_credible": _l("Not credible"),
    "resolved": _l("Resolved"),
    "referral_completed": _l("Referral completed"),
    "judicial_concluded": _l("Judicial process concluded"),
    "source_unreachable": _l("The source cannot be reached"),
    "new_information": _l("New information"),
    "closed_in_error": _l("Closed in error"),
    "referral_made": _l("A referral was made"),
    "referral_declined": _l("The referral was declined"),
}
# Room for a handful of labels typed in one field (each at most LABEL_MAX).
LABELS_FIELD_MAX = 200


def _priorities() -> list[tuple[str, str]]:
    return [(p.value, str(label)) for p, label in PRIORITY_LABELS.items()]


class NewCaseForm(FlaskForm):
    """Open a case with everything triage needs, in one submit."""

    source = SelectMultipleField(validate_choice=False)
    submission = SelectMultipleField(validate_choice=False)
    urgent_medical = BooleanField(_l("Urgent medical need"))
    priority = SelectField(_l("Priority"), default="")
    labels = StringField(
        _l("Labels"),
        validators=[at_most(LABELS_FIELD_MAX)],
        description=_l("Short words separated by spaces, e.g. medical kivu"),
    )
    assignee = SelectMultipleField(_l("Assigned to"), validate_choice=False)
    # Tells an empty assignee list ("nobody", all boxes unticked) from a form without
    # the boxes (an older page or client): the creator is assigned only in that case.
    assignees_offered = HiddenField()
    due = DateField(_l("Due date (UTC)"), validators=[Optional()])
    # Triage by default: whoever read the source to open the case has triaged it. The
    # case walks the workflow's moves from New to the status chosen, each one recorded.
    status = SelectField(
        _l("Status"),
        default=CaseStatus.TRIAGE.value,  # a form sending none (an older page): New
        description=_l("The case goes through each status before it, each move recorded"),
    )
    confirm_second = BooleanField(_l("Yes, open a second case for this source"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        automatic = ("", str(_l("Automatic: high if urgent, otherwise normal")))
        self.priority.choices = [automatic, *_priorities()]
        self.status.choices = [(s.value, str(STATUS_LABELS[s])) for s in CREATION_STATUSES]


class EditCaseForm(FlaskForm):
    """The case page's one form: priority, urgency, due date, labels, assignees."""

    priority = SelectField(_l("Priority"), validators=[required()])
    urgent_medical = BooleanField(_l("Urgent medical need"))
    due = DateField(_l("Due date (UTC)"), validators=[Optional()])
    labels = StringField(
        _l("Labels"),
        validators=[at_most(LABELS_FIELD_MAX)],
        description=_l("Short words separated by spaces: delete one to remove it"),
    )
    assignee = SelectMultipleField(_l("Assigned to"), validate_choice=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.priority.choices = _priorities()


class LinkForm(FlaskForm):
    """Link a source or submission (by uuid) to a case chosen by its reference."""

    case = StringField(_l("Case reference"), validators=[required(), at_most(16)])
    target = StringField(validators=[required(), at_most(36)])


class AddSourceForm(FlaskForm):
    """The case page's "Add a source": a designation, typed or picked from the list."""

    designation = StringField(
        _l("Add a source by its designation"), validators=[required(), at_most(DESIGNATION_LENGTH)]
    )


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), validators=[required()], validate_choice=False)
    reason = SelectField(_l("Reason"), validators=[Optional()], validate_choice=False)


class PriorityForm(FlaskForm):
    priority = SelectField(_l("Priority"), validators=[required()])
    urgent_medical = BooleanField(_l("Urgent medical need"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.priority.choices = _priorities()


class DueForm(FlaskForm):
    due = DateField(_l("Due date (UTC)"), validators=[Optional()])


class AssignForm(FlaskForm):
    reviewer = SelectField(_l("Assign to"), validators=[required()], validate_choice=False)


class LabelForm(FlaskForm):
    label = StringField(_l("Label"), validators=[required(), at_most(LABEL_MAX)])


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Note"), validators=[required(), at_most(MAX_NOTE_CHARS)])


class PartnerMessageForm(FlaskForm):
    transfer = HiddenField(validators=[required()])
    text = TextAreaField(_l("Message"), validators=[required(), at_most(MAX_NOTE_CHARS)])


class OrgForm(FlaskForm):
    name = StringField(_l("Organisation"), validators=[required(), at_most(NAME_MAX)])
    services = SelectMultipleField(_l("Services"), validators=[required()])
    regions = StringField(_l("Regions served"), validators=[at_most(REGIONS_MAX)])
    languages = StringField(_l("Languages"), validators=[at_most(LANGUAGES_MAX)])
    contact = TextAreaField(_l("How to reach them"), validators=[at_most(CONTACT_MAX)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.services.choices = [(s.value, str(SERVICE_LABELS[s])) for s in PartnerService]


class ReferralForm(FlaskForm):
    org = SelectField(_l("Refer to"), validators=[required()], validate_choice=False)
    source = SelectField(_l("Source"), validators=[required()], validate_choice=False)


class MessageForm(FlaskForm):
    text = TextAreaField(_l("Message"), validators=[required(), at_most(MAX_NOTE_CHARS)])


SERVICE_LABELS = {
    PartnerService.MEDICAL: _l("Medical"),
    PartnerService.PSYCHOSOCIAL: _l("Psychosocial"),
    PartnerService.LEGAL: _l("Legal"),
    PartnerService.SHELTER: _l("Shelter"),
}
REFERRAL_LABELS = {
    ReferralStatus.PROPOSED: _l("Proposed"),
    ReferralStatus.ACCEPTED: _l("Accepted"),
    ReferralStatus.IN_PROGRESS: _l("In progress"),
    ReferralStatus.COMPLETED: _l("Completed"),
    ReferralStatus.DECLINED: _l("Declined"),
}
