"""Case pages: list, open a case from the source page (priority, urgency, labels,
assignees and due date in one submit, with a warning before a second case for a source
already in an open one), one edit form on the case page, link/unlink, workflow. Views
parse forms and call `vault.services.cases`, which enforces roles and audits; domain
errors become a flashed message and a redirect, or the form again with its errors.

The single-purpose endpoints (priority, due, assign, labels) stay for older pages and
clients; they go through the same service and record only real changes."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.case_forms import (
    PRIORITY_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    AddSourceForm,
    AssignForm,
    DueForm,
    EditCaseForm,
    LabelForm,
    LinkForm,
    NewCaseForm,
    PriorityForm,
    StatusForm,
)
from journalist_app.context import current_reviewer, db, runtime
from journalist_app.forms import NO_REPLY_KEY_MESSAGE, ReplyForm
from journalist_app.listing import Sorter
from vault.db import utcnow
from vault.errors import EmptySubmissionError, NoReplyKeyError, NotFoundError
from vault.models import Case, CasePriority, CaseStatus, Reviewer
from vault.services import (
    case_edits,
    case_links,
    case_list,
    case_messages,
    cases,
    inbox,
    referral_activity,
    referrals,
    replies,
)
from vault.services.case_changes import InvalidLabelError, parse_labels
from vault.services.case_workflow import (
    InvalidTransitionError,
    allowed_targets,
    reasons_for,
    suggested_move,
)

bp = Blueprint("cases", __name__, url_prefix="/cases")

_INVALID = (cases.InvalidCaseInputError, InvalidTransitionError)


def _to_case(case_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_uuid=case_uuid))


def _invalid() -> None:
    flash(_("That change was not accepted; nothing was changed."), "error")


def _bad_labels() -> list[str]:
    return [_("Labels are short lower-case words (letters, digits, - and _).")]


@bp.app_template_global()
def cases_of_source(source_uuid: str) -> list[Case]:
    """For the inbox's source page: the cases this source is linked to."""
    return cases.cases_for_source(db(), current_reviewer(), source_uuid)


@bp.app_template_global()
def open_cases_of(source_uuid: str) -> list[Case]:
    """The open cases this source is in, newest first (the second-case warning)."""
    if not cases.can_work_cases(current_reviewer()):
        return []
    return cases.open_cases_of_sources(db(), [source_uuid])


@bp.app_template_global()
def new_case_form(source_uuid: str) -> NewCaseForm:
    """The form to open a case for this source: the creator ticked as assignee, and the
    flags of the source's newest open case copied (a second case starts like the first,
    visibly, and the analyst may change them)."""
    form = NewCaseForm(formdata=None, source=[source_uuid])
    form.assignee.data = [current_reviewer().uuid]
    already = open_cases_of(source_uuid)
    if already:
        form.urgent_medical.data = already[0].urgent_medical
        form.labels.data = " ".join(lb.label for lb in already[0].labels)
    return form


@bp.app_template_global()
def assignable_reviewers() -> list[Reviewer]:
    return case_edits.assignable_reviewers(db(), current_reviewer())


@bp.app_context_processor
def _labels() -> dict[str, object]:
    return {
        "status_labels": STATUS_LABELS,
        "priority_labels": PRIORITY_LABELS,
        "reason_labels": REASON_LABELS,
    }


@bp.route("/")
def index() -> ResponseReturnValue:
    """One page of cases, filtered and sorted from the query string (see case_list)."""
    reviewer = current_reviewer()
    flt = case_list.parse_filter(request.args)
    listing = case_list.list_page(db(), reviewer, flt)
    return render_template(
        "cases/index.html",
        listing=listing,
        flt=flt,
        statuses=list(CaseStatus),
        labels=case_list.known_labels(db(), reviewer),
        assignable=case_edits.assignable_reviewers(db(), reviewer),
        sorter=Sorter(
            "cases.index",
            request.args,
            flt.sort,
            flt.effective_direction,
            case_list.DEFAULT_DIRECTIONS,
        ),
        now=utcnow(),
    )


def _new_page(form: NewCaseForm, status: int = 200) -> ResponseReturnValue:
    """The form on a page of its own, for its (first) source."""
    reviewer = current_reviewer()
    cases.require_worker(db(), reviewer)
    wanted = list(form.source.data or [])
    page = render_template(
        "cases/new.html",
        form=form,
        open_cases=cases.open_cases_of_sources(db(), wanted),
        source=inbox.get_source(db(), reviewer, wanted[0]) if wanted else None,
    )
    return page, status


@bp.route("/new", methods=["GET"])
def new() -> ResponseReturnValue:
    """The form on a page of its own (the source page carries the same one)."""
    source_uuid = request.args.get("source", "")
    cases.require_worker(db(), current_reviewer())
    if not cases.sources_exist(db(), [source_uuid]):
        raise NotFoundError("no such source")
    return _new_page(new_case_form(source_uuid))


@bp.route("/new", methods=["POST"])
def create() -> ResponseReturnValue:
    form = NewCaseForm()
    # Back to the form (with what was typed) when it came for known sources.
    back = bool(form.source.data) and cases.sources_exist(db(), form.source.data or [])
    if not form.validate_on_submit():
        _invalid()
        return _new_page(form, 400) if back else redirect(url_for("cases.index"))
    try:
        labels = parse_labels(form.labels.data or "")
    except InvalidLabelError:
        form.labels.errors = _bad_labels()
        return _new_page(form, 400) if back else redirect(url_for("cases.index"))
    # No boxes on the form (an older page): the creator; boxes all unticked: nobody.
    assignees = (form.assignee.data or []) if form.assignees_offered.data else None
    # No status on the form (an older page or client): the case starts New, as before.
    status = CaseStatus(form.status.data) if "status" in request.form else CaseStatus.NEW
    try:
        case = cases.create_case(
            db(),
            current_reviewer(),
            form.source.data or [],
            form.submission.data or [],
            priority=CasePriority(form.priority.data) if form.priority.data else None,
            urgent_medical=bool(form.urgent_medical.data),
            labels=labels,
            assignee_uuids=assignees,
            due=form.due.data,
            second_case_confirmed=bool(form.confirm_second.data),
            status=status,
        )
    except cases.SecondCaseError:
        form.confirm_second.errors = [_("Tick this to open a second case.")]
        flash(
            _(
                "This source is already in an open case. Add to that case, or tick the "
                "confirmation to open a second one."
            ),
            "error",
        )
        return _new_page(form, 409)
    except _INVALID:
        _invalid()
        return _new_page(form, 400) if back else redirect(url_for("cases.index"))
    flash(_("Case %(reference)s created.", reference=case.reference), "success")
    return _to_case(case.uuid)


def _edit_form(case: Case) -> EditCaseForm:
    triage = cases.triage_of(case)
    return EditCaseForm(
        formdata=None,
        priority=triage.priority.value,
        urgent_medical=triage.urgent,
        due=triage.due,
        labels=" ".join(sorted(triage.labels)),
        assignee=sorted(triage.assignees),
    )


def _show(
    case: Case,
    form: EditCaseForm,
    status: int = 200,
    add_form: AddSourceForm | None = None,
) -> ResponseReturnValue:
    reviewer = current_reviewer()
    suggested = suggested_move(case.status, referrals.statuses_of_case(db(), reviewer, case.uuid))
    moves = [(target, reasons_for(case.status, target)) for target in allowed_targets(case.status)]
    if suggested is not None:
        # The move the referrals point to comes first, with its reason chosen.
        moves.sort(key=lambda move: move[0] is not suggested[0])
    assignable = case_edits.assignable_reviewers(db(), reviewer)
    # An assignee who can no longer be assigned stays listed (ticked): saving the form
    # must not unassign anyone the analyst did not untick.
    known = {r.uuid for r in assignable}
    assignable += [r for r in case.assignees if r.uuid not in known]
    page = render_template(
        "cases/show.html",
        case=case,
        moves=moves,
        suggested=suggested,
        assignable=assignable,
        edit_form=form,
        reply_form=ReplyForm(formdata=None),
        add_form=add_form or AddSourceForm(formdata=None),
        designations=case_links.designations_to_add(db(), reviewer, case),
        shared=bool(case_messages.shared_transfers(db(), case)),
        partner_news=sum(
            a.is_new for a in referral_activity.for_case(db(), reviewer, case.id).values()
        ),
    )
    return page, status


@bp.route("/<case_uuid>")
def show(case_uuid: str) -> ResponseReturnValue:
    case = cases.open_case(db(), current_reviewer(), case_uuid)
    return _show(case, _edit_form(case))


@bp.route("/<case_uuid>/edit", methods=["POST"])
def edit(case_uuid: str) -> ResponseReturnValue:
    """The case page's one form: every triage attribute, one save, one audit event per
    real change (none when nothing changed)."""
    reviewer = current_reviewer()
    case = cases.get_case(db(), reviewer, case_uuid)
    form = EditCaseForm()
    if not form.validate_on_submit():
        _invalid()
        return _show(case, form, 400)
    try:
        labels = parse_labels(form.labels.data or "")
    except InvalidLabelError:
        form.labels.errors = _bad_labels()
        return _show(case, form, 400)
    try:
        changed = case_edits.update_case(
            db(),
            reviewer,
            case.uuid,
            priority=CasePriority(form.priority.data),
            urgent_medical=bool(form.urgent_medical.data),
            due=form.due.data,
            labels=labels,
            assignee_uuids=form.assignee.data or [],
        )
    except cases.InvalidCaseInputError:
        _invalid()
        return _to_case(case.uuid)
    if changed:
        flash(_("Changes saved."), "success")
    else:
        flash(_("Nothing was changed."), "info")
    return _to_case(case.uuid)


@bp.route("/<case_uuid>/sources/<source_uuid>/reply", methods=["POST"])
def reply(case_uuid: str, source_uuid: str) -> ResponseReturnValue:
    """A reply to one of the case's sources from the case page: the source page's reply
    (replies.reply_to_source: sealed to the source, the submission key and the team's
    copies), then back to the case."""
    reviewer = current_reviewer()
    case = cases.get_case(db(), reviewer, case_uuid)
    if source_uuid not in {s.uuid for s in case.sources}:
        raise NotFoundError("source not in this case")
    form = ReplyForm()
    rt = runtime()
    try:
        if not form.validate_on_submit():
            raise EmptySubmissionError("invalid form")
        replies.reply_to_source(
            db(),
            rt.store,
            rt.keyring,
            reviewer,
            source_uuid,
            form.message.data or "",
            rt.submission_fingerprint,
        )
    except EmptySubmissionError:
        flash(_("The reply was empty or too long; nothing was sent."), "error")
    except NoReplyKeyError:
        flash(str(NO_REPLY_KEY_MESSAGE), "error")
    else:
        flash(_("Your reply was encrypted and stored for the source."), "success")
    return _to_case(case.uuid)


@bp.route("/<case_uuid>/sources", methods=["POST"])
def add_source(case_uuid: str) -> ResponseReturnValue:
    """The case page's "Add a source": a source by its designation, linked as from the
    source page (case_links.link_source); told when it is in another open case too."""
    reviewer = current_reviewer()
    case = cases.get_case(db(), reviewer, case_uuid)
    form = AddSourceForm()
    if not form.validate_on_submit():
        _invalid()
        return _show(case, _edit_form(case), 400, add_form=form)
    try:
        source = case_links.source_by_designation(db(), reviewer, form.designation.data or "")
    except NotFoundError:
        form.designation.errors = [_("No source is called that.")]
        return _show(case, _edit_form(case), 404, add_form=form)
    if source.uuid in {s.uuid for s in case.sources}:
        flash(_("This source is in %(reference)s already.", reference=case.reference), "info")
        return _to_case(case.uuid)
    others = [c for c in cases.open_cases_of_sources(db(), [source.uuid]) if c.id != case.id]
    case_links.link_source(db(), reviewer, case.uuid, source.uuid)
    flash(
        _("%(source)s was added to the case.", source=source.designation),
        "success",
    )
    if others:
        flash(
            _(
                "%(source)s is also in the open case %(references)s: check that both "
                "cases are needed.",
                source=source.designation,
                references=", ".join(c.reference for c in others),
            ),
            "warning",
        )
    return _to_case(case.uuid)


@bp.route("/link", methods=["POST"])
def link() -> ResponseReturnValue:
    """From a source page: add the source, or one of its submissions, to a case."""
    form = LinkForm()
    kind = request.args.get("kind", "source")
    if not form.validate_on_submit():
        _invalid()
        return redirect(url_for("cases.index"))
    reviewer = current_reviewer()
    case = cases.get_case_by_reference(db(), reviewer, form.case.data or "")
    target = form.target.data or ""
    if kind != "submission" and target in {s.uuid for s in case.sources}:
        flash(_("This source is in %(reference)s already.", reference=case.reference), "info")
        return _to_case(case.uuid)
    linker = case_links.link_submission if kind == "submission" else case_links.link_source
    linker(db(), reviewer, case.uuid, target)
    flash(_("Linked to the case."), "success")
    return _to_case(case.uuid)


@bp.route("/<case_uuid>/sources/<source_uuid>/unlink", methods=["POST"])
def unlink_source(case_uuid: str, source_uuid: str) -> ResponseReturnValue:
    # Bare POST buttons: CSRFProtect checks their token before the view runs.
    try:
        case_links.unlink_source(db(), current_reviewer(), case_uuid, source_uuid)
    except cases.InvalidCaseInputError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/submissions/<submission_uuid>/unlink", methods=["POST"])
def unlink_submission(case_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    case_links.unlink_submission(db(), current_reviewer(), case_uuid, submission_uuid)
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/status", methods=["POST"])
def status(case_uuid: str) -> ResponseReturnValue:
    form = StatusForm()
    valid = {s.value for s in CaseStatus}
    if not form.validate_on_submit() or form.status.data not in valid:
        _invalid()
        return _to_case(case_uuid)
    try:
        cases.set_status(
            db(),
            current_reviewer(),
            case_uuid,
            CaseStatus(form.status.data),
            form.reason.data or None,
        )
    except InvalidTransitionError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/priority", methods=["POST"])
def priority(case_uuid: str) -> ResponseReturnValue:
    form = PriorityForm()
    if form.validate_on_submit():
        case_edits.update_case(
            db(),
            current_reviewer(),
            case_uuid,
            priority=CasePriority(form.priority.data),
            urgent_medical=bool(form.urgent_medical.data),
        )
    else:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/due", methods=["POST"])
def due(case_uuid: str) -> ResponseReturnValue:
    form = DueForm()
    if not form.validate_on_submit():
        _invalid()
        return _to_case(case_uuid)
    day = form.due.data
    when = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC) if day else None
    case_edits.set_due(db(), current_reviewer(), case_uuid, when)
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/assign", methods=["POST"])
def assign(case_uuid: str) -> ResponseReturnValue:
    form = AssignForm()
    if not form.validate_on_submit():
        _invalid()
        return _to_case(case_uuid)
    try:
        case_edits.assign(db(), current_reviewer(), case_uuid, form.reviewer.data or "")
    except cases.InvalidCaseInputError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/unassign/<reviewer_uuid>", methods=["POST"])
def unassign(case_uuid: str, reviewer_uuid: str) -> ResponseReturnValue:
    case_edits.unassign(db(), current_reviewer(), case_uuid, reviewer_uuid)
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/labels", methods=["POST"])
def add_label(case_uuid: str) -> ResponseReturnValue:
    form = LabelForm()
    if not form.validate_on_submit():
        _invalid()
        return _to_case(case_uuid)
    try:
        case_edits.add_label(db(), current_reviewer(), case_uuid, form.label.data or "")
    except cases.InvalidCaseInputError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/labels/<label>/remove", methods=["POST"])
def remove_label(case_uuid: str, label: str) -> ResponseReturnValue:
    case_edits.remove_label(db(), current_reviewer(), case_uuid, label)
    return _to_case(case_uuid)
