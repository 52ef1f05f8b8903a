"""The partner directory (admins edit it) and referrals: analysts refer a case when the
source's recorded consent allows it; partners see only their organisation's referrals,
exchange sealed messages with the analysts and, with contact consent, reply to the
source."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.account_keys import reseal_for_new_readers
from journalist_app.auth import session_notes_key
from journalist_app.case_forms import (
    REFERRAL_LABELS,
    SERVICE_LABELS,
    MessageForm,
    OrgForm,
    ReferralForm,
)
from journalist_app.context import current_reviewer, db, runtime
from journalist_app.forms import NO_REPLY_KEY_MESSAGE, ReplyForm
from vault.errors import EmptySubmissionError, NoReplyKeyError, NotFoundError
from vault.models import PartnerService, ReferralStatus, Role
from vault.services import cases, partners, referral_activity, referral_messages, referrals

bp = Blueprint("partners", __name__)

# A partner's list: what still needs them before what is done (stable sort: newest
# first within each group, as listed).
_DONE = {ReferralStatus.COMPLETED: 1, ReferralStatus.DECLINED: 1}


@bp.app_context_processor
def _labels() -> dict[str, object]:
    return {"service_labels": SERVICE_LABELS, "referral_labels": REFERRAL_LABELS}


def _to_referral(referral_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("partners.referral", referral_uuid=referral_uuid))


@bp.route("/partners/")
def directory() -> ResponseReturnValue:
    reviewer = current_reviewer()
    orgs = partners.list_orgs(db(), reviewer)
    # Opened (the column key) only to be shown: the database holds them sealed.
    details = {org.uuid: partners.org_details(db(), org) for org in orgs}
    members = partners.partner_accounts(db(), reviewer) if reviewer.is_admin else []
    return render_template(
        "partners/directory.html", orgs=orgs, details=details, form=OrgForm(), members=members
    )


@bp.route("/partners/members", methods=["POST"])
def add_member() -> ResponseReturnValue:
    # CSRFProtect has checked the token; the service checks the admin role and inputs.
    org_uuid = request.form.get("org", "")
    try:
        partners.add_member(db(), current_reviewer(), org_uuid, request.form.get("account", ""))
    except partners.InvalidPartnerError:
        flash(_("Only partner accounts can be members of an organisation."), "error")
    else:
        # The organisation's referral messages written before now open for the new member.
        reseal_for_new_readers(org_uuid)
        flash(_("The account is now a member of the organisation."), "success")
    return redirect(url_for("partners.directory"))


@bp.route("/partners/new", methods=["POST"])
def create_org() -> ResponseReturnValue:
    form = OrgForm()
    if form.validate_on_submit():
        try:
            partners.create_org(
                db(),
                current_reviewer(),
                form.name.data or "",
                [PartnerService(s) for s in form.services.data or []],
                form.regions.data or "",
                form.languages.data or "",
                form.contact.data or "",
            )
        except partners.InvalidPartnerError:
            flash(_("That organisation was not accepted."), "error")
    else:
        flash(_("That organisation was not accepted."), "error")
    return redirect(url_for("partners.directory"))


@bp.route("/cases/<case_uuid>/referrals", methods=["GET", "POST"])
def refer(case_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    case = cases.get_case(db(), reviewer, case_uuid)
    form = ReferralForm()
    if form.validate_on_submit():
        try:
            made = referrals.create_referral(
                db(),
                reviewer,
                case.uuid,
                form.org.data or "",
                form.source.data or "",
            )
        except referrals.ConsentRequiredError:
            flash(
                _(
                    "Not referred: this source's recorded consent does not allow referral. "
                    "Record their latest consent on the case page first."
                ),
                "error",
            )
        except (referrals.InvalidReferralError, NotFoundError):
            flash(_("That referral was not accepted."), "error")
        else:
            flash(_("The case was referred."), "success")
            return _to_referral(made.uuid)
    return render_template(
        "partners/refer.html",
        case=case,
        form=form,
        orgs=partners.list_orgs(db(), reviewer),
        existing=referrals.list_referrals(db(), reviewer, case.uuid),
        activity=referral_activity.for_case(db(), reviewer, case.id),
    )


@bp.route("/referrals/")
def my_referrals() -> ResponseReturnValue:
    """A partner's start page: their organisation's referrals, urgent ones first."""
    reviewer = current_reviewer()
    if reviewer.role is Role.PARTNER and partners.org_of(db(), reviewer) is None:
        # Where a new partner lands before an admin adds them to their organisation:
        # say so, rather than an error page (nothing is listed, nothing revealed).
        return render_template("partners/referrals.html", referrals=[], without_org=True)
    found = referrals.list_referrals(db(), reviewer)
    found.sort(key=lambda r: (not r.case.urgent_medical, _DONE.get(r.status, 0)))
    return render_template("partners/referrals.html", referrals=found, without_org=False)


@bp.route("/referrals/<referral_uuid>")
def referral(referral_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    rt = runtime()
    messages = referral_messages.read_messages(
        db(),
        rt.keyring,
        reviewer,
        referral_uuid,
        session_notes_key(),
        submission_fingerprint=rt.submission_fingerprint,
    )
    found = referrals.get_referral(db(), reviewer, referral_uuid)
    return render_template(
        "partners/referral.html",
        referral=found,
        messages=messages,
        moves=referrals.allowed_moves(found.status, reviewer),
        contact_allowed=referrals.contact_allowed(db(), found),
        form=MessageForm(),
        reply_form=ReplyForm(),
        # Analysts go on to the case (a partner sees only what the referral shares).
        case_link=reviewer.role is not Role.PARTNER,
    )


@bp.route("/referrals/<referral_uuid>/status", methods=["POST"])
def referral_status(referral_uuid: str) -> ResponseReturnValue:
    # A bare button form: CSRFProtect has checked its token before the view runs.
    value = request.form.get("status", "")
    if value not in {s.value for s in ReferralStatus}:
        flash(_("That change was not accepted; nothing was changed."), "error")
        return _to_referral(referral_uuid)
    try:
        referrals.set_status(db(), current_reviewer(), referral_uuid, ReferralStatus(value))
    except referrals.InvalidReferralError:
        flash(_("That change was not accepted; nothing was changed."), "error")
    return _to_referral(referral_uuid)


@bp.route("/referrals/<referral_uuid>/accept", methods=["POST"])
def accept(referral_uuid: str) -> ResponseReturnValue:
    """The list's "Accept" button (partners; CSRFProtect checks its token): the same
    service as "Mark as Accepted" on the referral's page, then back to the list."""
    reviewer = current_reviewer()
    try:
        made = referrals.set_status(db(), reviewer, referral_uuid, ReferralStatus.ACCEPTED)
    except referrals.InvalidReferralError:
        flash(_("That change was not accepted; nothing was changed."), "error")
    else:
        reference = made.case.reference
        flash(_("You accepted the referral %(reference)s.", reference=reference), "success")
    return redirect(url_for("partners.my_referrals"))


@bp.route("/referrals/<referral_uuid>/messages", methods=["POST"])
def message(referral_uuid: str) -> ResponseReturnValue:
    form = MessageForm()
    rt = runtime()
    try:
        if not form.validate_on_submit():
            raise referrals.InvalidReferralError("invalid form")
        referral_messages.add_message(
            db(),
            rt.keyring,
            current_reviewer(),
            referral_uuid,
            form.text.data or "",
            rt.submission_fingerprint,
        )
    except referrals.InvalidReferralError:
        flash(_("The message was empty or too long; nothing was sent."), "error")
    return _to_referral(referral_uuid)


@bp.route("/referrals/<referral_uuid>/reply", methods=["POST"])
def reply(referral_uuid: str) -> ResponseReturnValue:
    form = ReplyForm()
    rt = runtime()
    try:
        if not form.validate_on_submit():
            raise EmptySubmissionError("invalid form")
        referral_messages.reply_to_source(
            db(),
            rt.store,
            rt.keyring,
            current_reviewer(),
            referral_uuid,
            form.message.data or "",
            rt.submission_fingerprint,
        )
    except (EmptySubmissionError, referrals.InvalidReferralError):
        flash(_("The reply was empty or too long; nothing was sent."), "error")
    except NoReplyKeyError:
        flash(str(NO_REPLY_KEY_MESSAGE), "error")
    else:
        flash(_("Your reply was encrypted and stored for the source."), "success")
    return _to_referral(referral_uuid)
