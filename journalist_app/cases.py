"""Case pages: list, create from the source page, link/unlink, workflow, assignment,
labels, due dates. Views parse forms and call `vault.services.cases`, which enforces
roles and audits; domain errors become a flashed message and a redirect."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.case_forms import (
    PRIORITY_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    AssignForm,
    DueForm,
    LabelForm,
    LinkForm,
    NewCaseForm,
    PriorityForm,
    StatusForm,
)
from journalist_app.context import current_reviewer, db
from journalist_app.listing import Sorter
from vault.db import utcnow
from vault.models import Case, CasePriority, CaseStatus
from vault.services import case_list, cases, referral_activity
from vault.services.case_workflow import InvalidTransitionError, allowed_targets, reasons_for

bp = Blueprint("cases", __name__, url_prefix="/cases")

_INVALID = (cases.InvalidCaseInputError, InvalidTransitionError)


def _to_case(case_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_uuid=case_uuid))


def _invalid() -> None:
    flash(_("That change was not accepted; nothing was changed."), "error")


@bp.app_template_global()
def cases_of_source(source_uuid: str) -> list[Case]:
    """For the inbox's source page: the cases this source is linked to."""
    return cases.cases_for_source(db(), current_reviewer(), source_uuid)


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
        assignable=cases.assignable_reviewers(db(), reviewer),
        sorter=Sorter(
            "cases.index",
            request.args,
            flt.sort,
            flt.effective_direction,
            case_list.DEFAULT_DIRECTIONS,
        ),
        now=utcnow(),
    )


@bp.route("/new", methods=["POST"])
def create() -> ResponseReturnValue:
    form = NewCaseForm()
    if not form.validate_on_submit():
        _invalid()
        return redirect(url_for("cases.index"))
    try:
        case = cases.create_case(
            db(),
            current_reviewer(),
            form.source.data or [],
            form.submission.data or [],
            priority=CasePriority(form.priority.data),
            urgent_medical=bool(form.urgent_medical.data),
        )
    except cases.InvalidCaseInputError:
        _invalid()
        return redirect(url_for("cases.index"))
    flash(_("Case %(reference)s created.", reference=case.reference), "success")
    return _to_case(case.uuid)


@bp.route("/<case_uuid>")
def show(case_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    case = cases.open_case(db(), reviewer, case_uuid)
    moves = [(target, reasons_for(case.status, target)) for target in allowed_targets(case.status)]
    return render_template(
        "cases/show.html",
        case=case,
        moves=moves,
        assignable=cases.assignable_reviewers(db(), reviewer),
        priority_form=PriorityForm(
            priority=case.priority.value, urgent_medical=case.urgent_medical
        ),
        due_form=DueForm(due=case.due_at.date() if case.due_at else None),
        partner_news=sum(
            a.is_new for a in referral_activity.for_case(db(), reviewer, case.id).values()
        ),
    )


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
    linker = cases.link_submission if kind == "submission" else cases.link_source
    linker(db(), reviewer, case.uuid, form.target.data or "")
    flash(_("Linked to the case."), "success")
    return _to_case(case.uuid)


@bp.route("/<case_uuid>/sources/<source_uuid>/unlink", methods=["POST"])
def unlink_source(case_uuid: str, source_uuid: str) -> ResponseReturnValue:
    # Bare POST buttons: CSRFProtect checks their token before the view runs.
    try:
        cases.unlink_source(db(), current_reviewer(), case_uuid, source_uuid)
    except cases.InvalidCaseInputError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/submissions/<submission_uuid>/unlink", methods=["POST"])
def unlink_submission(case_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    cases.unlink_submission(db(), current_reviewer(), case_uuid, submission_uuid)
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
        reviewer = current_reviewer()
        cases.set_priority(db(), reviewer, case_uuid, CasePriority(form.priority.data))
        cases.set_urgent_medical(db(), reviewer, case_uuid, bool(form.urgent_medical.data))
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
    cases.set_due(db(), current_reviewer(), case_uuid, when)
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/assign", methods=["POST"])
def assign(case_uuid: str) -> ResponseReturnValue:
    form = AssignForm()
    if not form.validate_on_submit():
        _invalid()
        return _to_case(case_uuid)
    try:
        cases.assign(db(), current_reviewer(), case_uuid, form.reviewer.data or "")
    except cases.InvalidCaseInputError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/unassign/<reviewer_uuid>", methods=["POST"])
def unassign(case_uuid: str, reviewer_uuid: str) -> ResponseReturnValue:
    cases.unassign(db(), current_reviewer(), case_uuid, reviewer_uuid)
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/labels", methods=["POST"])
def add_label(case_uuid: str) -> ResponseReturnValue:
    form = LabelForm()
    if not form.validate_on_submit():
        _invalid()
        return _to_case(case_uuid)
    try:
        cases.add_label(db(), current_reviewer(), case_uuid, form.label.data or "")
    except cases.InvalidCaseInputError:
        _invalid()
    return _to_case(case_uuid)


@bp.route("/<case_uuid>/labels/<label>/remove", methods=["POST"])
def remove_label(case_uuid: str, label: str) -> ResponseReturnValue:
    cases.remove_label(db(), current_reviewer(), case_uuid, label)
    return _to_case(case_uuid)
