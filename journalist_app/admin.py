"""Account management, for admins only: list, add, change role, deactivate/reactivate,
put on or take off care duty, name legal advisers, reset 2FA, reset passphrase. New
credentials are shown once, in the POST's answer.

Creating an account or resetting its passphrase also makes the account's key (see
vault.services.accounts); the admin's session then re-seals a batch of what it can
read to the new key, so the new account reads what was written before its first login."""

from __future__ import annotations

import segno
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.account_keys import key_failed, reseal_for_new_readers
from journalist_app.care_forms import CareDutyForm
from journalist_app.context import current_reviewer, db, hasher, runtime
from journalist_app.forms import NewReviewerForm, RoleForm
from journalist_app.guidance_forms import LegalAdviserForm
from vault.errors import VaultError
from vault.models import Reviewer, Role
from vault.services import care, guidance, reviewers
from vault.services.accounts import make_account_key
from vault.services.audit import record_refusal
from vault.services.reviewers import InvalidUsernameError, LastAdminError, UsernameTakenError
from vault.transaction import savepoint

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only() -> None:
    # Runs after the app's login gate: a reviewer is loaded; it must be an active admin.
    reviewer = current_reviewer()
    if not reviewer.is_admin:
        # Recorded before refusing: an analyst probing admin pages must leave a trace.
        record_refusal(db(), reviewer, "admin_access_denied", "admin")
        abort(403)


def _qr_data_uri(uri: str) -> str:
    """The enrolment URI as an inline SVG QR code (CSP allows `img-src data:`)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=4))


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _credentials_page(
    reviewer: Reviewer, passphrase: str | None, show_totp: bool
) -> ResponseReturnValue:
    totp = None
    if show_totp:
        totp = {
            "qr": _qr_data_uri(reviewers.provisioning_uri(db(), reviewer)),
            "secret": _grouped(reviewers.totp_secret(db(), reviewer)),
        }
    return render_template(
        "admin/credentials.html", reviewer=reviewer, passphrase=passphrase, totp=totp
    )


def _to_reviewer(reviewer_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("admin.reviewer", reviewer_uuid=reviewer_uuid))


@bp.route("/")
def index() -> ResponseReturnValue:
    accounts = reviewers.list_reviewers(db(), current_reviewer())
    return render_template("admin/index.html", accounts=accounts)


@bp.route("/reviewers/new", methods=["GET", "POST"])
def new_reviewer() -> ResponseReturnValue:
    form = NewReviewerForm()
    if form.validate_on_submit():
        actor = current_reviewer()
        try:
            created, passphrase = reviewers.create_reviewer(
                db(), form.username.data or "", Role(form.role.data), actor=actor, hasher=hasher()
            )
        except InvalidUsernameError:
            form.username.errors = [_("This username is not allowed.")]
        except UsernameTakenError:
            form.username.errors = [_("This username is already taken.")]
        else:
            _make_key(created, passphrase, actor)
            return _credentials_page(created, passphrase, show_totp=True)
    return render_template("admin/new.html", form=form)


@bp.route("/reviewers/<reviewer_uuid>")
def reviewer(reviewer_uuid: str) -> ResponseReturnValue:
    account = reviewers.get_reviewer(db(), current_reviewer(), reviewer_uuid)
    form = RoleForm(data={"role": account.role.value})
    return render_template(
        "admin/reviewer.html",
        account=account,
        form=form,
        duty_form=CareDutyForm(),
        may_be_on_duty=account.role in care.CARE_ROLES,
    )


@bp.route("/reviewers/<reviewer_uuid>/care-duty", methods=["POST"])
def care_duty(reviewer_uuid: str) -> ResponseReturnValue:
    actor = current_reviewer()
    account = reviewers.get_reviewer(db(), actor, reviewer_uuid)
    form = CareDutyForm()
    if not form.validate_on_submit():
        abort(400)
    on_duty = form.on_duty.data == "1"
    try:
        care.set_on_duty(db(), actor, account, on_duty)
    except care.InvalidCareInputError:
        flash(_("Partners are never on care duty."), "error")
    else:
        flash(_("Now on care duty.") if on_duty else _("No longer on care duty."), "success")
    return _to_reviewer(reviewer_uuid)


@bp.route("/reviewers/<reviewer_uuid>/legal-adviser", methods=["POST"])
def legal_adviser(reviewer_uuid: str) -> ResponseReturnValue:
    actor = current_reviewer()
    account = reviewers.get_reviewer(db(), actor, reviewer_uuid)
    form = LegalAdviserForm()
    if not form.validate_on_submit():
        abort(400)
    adviser = form.adviser.data == "1"
    try:
        guidance.set_legal_adviser(db(), actor, account, adviser)
    except guidance.InvalidGuidanceError:
        flash(_("Partners are never WWoW legal advisers."), "error")
    else:
        flash(_("Now a legal adviser.") if adviser else _("No longer a legal adviser."), "success")
    return _to_reviewer(reviewer_uuid)


@bp.route("/reviewers/<reviewer_uuid>/role", methods=["POST"])
def change_role(reviewer_uuid: str) -> ResponseReturnValue:
    actor = current_reviewer()
    account = reviewers.get_reviewer(db(), actor, reviewer_uuid)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        reviewers.change_role(db(), actor, account, Role(form.role.data))
    except LastAdminError:
        flash(_("There must remain at least one active admin."), "error")
    else:
        flash(_("The role was changed."), "success")
    return _to_reviewer(reviewer_uuid)


def _set_active(reviewer_uuid: str, active: bool) -> ResponseReturnValue:
    actor = current_reviewer()
    account = reviewers.get_reviewer(db(), actor, reviewer_uuid)
    try:
        reviewers.set_active(db(), actor, account, active)
    except LastAdminError:
        flash(_("There must remain at least one active admin."), "error")
    else:
        flash(_("The account was reactivated.") if active else _("The account was deactivated."))
    return _to_reviewer(reviewer_uuid)


@bp.route("/reviewers/<reviewer_uuid>/deactivate", methods=["POST"])
def deactivate(reviewer_uuid: str) -> ResponseReturnValue:
    return _set_active(reviewer_uuid, False)


@bp.route("/reviewers/<reviewer_uuid>/activate", methods=["POST"])
def activate(reviewer_uuid: str) -> ResponseReturnValue:
    return _set_active(reviewer_uuid, True)


@bp.route("/reviewers/<reviewer_uuid>/reset-totp", methods=["POST"])
def reset_totp(reviewer_uuid: str) -> ResponseReturnValue:
    actor = current_reviewer()
    account = reviewers.get_reviewer(db(), actor, reviewer_uuid)
    reviewers.reset_totp(db(), actor, account)
    return _credentials_page(account, None, show_totp=True)


@bp.route("/reviewers/<reviewer_uuid>/reset-passphrase", methods=["POST"])
def reset_passphrase(reviewer_uuid: str) -> ResponseReturnValue:
    actor = current_reviewer()
    account = reviewers.get_reviewer(db(), actor, reviewer_uuid)
    passphrase = reviewers.reset_passphrase(db(), actor, account, hasher=hasher())
    _make_key(account, passphrase, actor)
    return _credentials_page(account, passphrase, show_totp=False)


def _make_key(account: Reviewer, passphrase: str, actor: Reviewer) -> None:
    """The account's (new) key, then what was written before sealed to it."""
    try:
        with savepoint(db()):  # a failure costs the key only, never the account
            make_account_key(db(), runtime().keyring, account, passphrase, actor=actor)
    except VaultError as exc:
        key_failed(exc)
        return
    reseal_for_new_readers()
