"""The care queue: open care requests for the on-duty care team (and admins).

Each request opens in memory with the key passphrase held in this account's sealed
server-side session (as case notes). From a request's page, one step each: take it,
answer the source (the usual reply channel; answering takes an untaken request, and a
partner chosen in the answer form refers the source in the same step), refer the
source to a partner (the referral flow, with the consents the source gave in the
request), close it.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_timedelta
from flask_babel import gettext as _

from journalist_app.auth import session_notes_key
from journalist_app.care_forms import (
    NEED_LABELS,
    RECENT_LABELS,
    URGENCY_LABELS,
    CareActionForm,
    CareAnswerForm,
    CareReferForm,
)
from journalist_app.context import current_reviewer, db, runtime
from journalist_app.forms import NO_REPLY_KEY_MESSAGE
from vault.db import utcnow
from vault.errors import EmptySubmissionError, NoReplyKeyError, NotFoundError
from vault.services import care, care_queue, partners, referrals

bp = Blueprint("care", __name__, url_prefix="/care")


@bp.before_request
def _members_only() -> None:
    # After the login gate: refused (and audited) unless a care member (see
    # vault.services.care.is_care_member).
    care.require_care_member(db(), current_reviewer())


@bp.app_context_processor
def _care_member() -> dict[str, bool]:
    """Whether the navigation offers the care queue (only to those it admits)."""
    reviewer = getattr(g, "reviewer", None)
    return {"care_member": reviewer is not None and care.is_care_member(db(), reviewer)}


@bp.app_template_filter("age")
def age(value: object) -> str:
    return str(format_timedelta(value, granularity="minute", threshold=1.0))


def _to_request(request_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("care.show", request_uuid=request_uuid))


def _labels() -> dict[str, object]:
    return {"needs": NEED_LABELS, "urgencies": URGENCY_LABELS, "recent": RECENT_LABELS}


@bp.route("/")
def index() -> ResponseReturnValue:
    rt = runtime()
    page = request.args.get("page", 1, type=int) or 1
    try:
        queue = care_queue.list_queue(
            db(),
            rt.keyring,
            current_reviewer(),
            session_notes_key(),
            rt.submission_fingerprint,
            page=page,
        )
    except care_queue.CareLockedError:
        queue, locked = None, True
    else:
        locked = False
    return render_template(
        "care/index.html",
        views=queue.views if queue else [],
        queue=queue,
        locked=locked,
        now=utcnow(),
        labels=_labels(),
    )


def _org_choices() -> list[tuple[str, str]]:
    return [(o.uuid, o.name) for o in partners.list_orgs(db(), current_reviewer())]


def _page(
    request_uuid: str, answer_form: CareAnswerForm | None = None, status: int = 200
) -> ResponseReturnValue:
    """The request's page; `answer_form` keeps what was typed when an answer came back."""
    rt = runtime()
    reviewer = current_reviewer()
    try:
        view = care_queue.open_request(
            db(), rt.keyring, reviewer, request_uuid, session_notes_key(), rt.submission_fingerprint
        )
    except care_queue.CareLockedError:
        flash(_("Your key is not unlocked in this session. Log out and in again."), "error")
        return redirect(url_for("care.index"))
    orgs = _org_choices()
    refer_form = CareReferForm()
    refer_form.org.choices = orgs
    answer_form = answer_form or CareAnswerForm(formdata=None)
    answer_form.org.choices = [("", _("Do not refer")), *orgs]
    page = render_template(
        "care/show.html",
        view=view,
        now=utcnow(),
        labels=_labels(),
        action_form=CareActionForm(),
        answer_form=answer_form,
        refer_form=refer_form,
        held_by=care_queue.held_by_other(view.request, reviewer),
    )
    return page, status


@bp.route("/<request_uuid>")
def show(request_uuid: str) -> ResponseReturnValue:
    return _page(request_uuid)


def _checked(form: CareActionForm | CareAnswerForm | CareReferForm) -> None:
    if not form.validate_on_submit():
        abort(400)


@bp.route("/<request_uuid>/take", methods=["POST"])
def take(request_uuid: str) -> ResponseReturnValue:
    _checked(CareActionForm())
    try:
        care_queue.take(db(), current_reviewer(), request_uuid)
    except care.InvalidCareInputError:
        flash(_("This request is closed."), "error")
    else:
        flash(_("The request is yours."), "success")
    return _to_request(request_uuid)


@bp.route("/<request_uuid>/close", methods=["POST"])
def close(request_uuid: str) -> ResponseReturnValue:
    _checked(CareActionForm())
    care_queue.close(db(), current_reviewer(), request_uuid)
    flash(_("The request was closed."), "success")
    return redirect(url_for("care.index"))


@bp.route("/<request_uuid>/answer", methods=["POST"])
def answer(request_uuid: str) -> ResponseReturnValue:
    """Send the answer; with a partner chosen, refer the source first (the refer form's
    service and checks): a refused referral sends nothing, and the page comes back with
    the answer as typed."""
    form = CareAnswerForm()
    if not form.validate_on_submit():
        flash(_("The answer was empty or too long; nothing was sent."), "error")
        return _page(request_uuid, form, 400)
    rt = runtime()
    reviewer = current_reviewer()
    text, org = form.message.data or "", form.org.data or ""
    try:
        if org:
            _reply, made = care_queue.answer_and_refer(
                db(),
                rt.store,
                rt.keyring,
                reviewer,
                request_uuid,
                text,
                org,
                session_notes_key(),
                rt.submission_fingerprint,
            )
        else:
            care_queue.answer(
                db(), rt.store, rt.keyring, reviewer, request_uuid, text, rt.submission_fingerprint
            )
    except care_queue.TakenByOtherError as held:
        message = _(
            "%(name)s has taken this request: nothing was sent. Take it over first if you "
            "are answering it.",
            name=held.holder,
        )
        flash(message, "error")
        return _page(request_uuid, form, 409)
    except EmptySubmissionError:
        flash(_("The answer was empty or too long; nothing was sent."), "error")
        return _page(request_uuid, form, 400)
    except NoReplyKeyError:
        flash(str(NO_REPLY_KEY_MESSAGE), "error")
        return _page(request_uuid, form, 409)
    except referrals.ConsentRequiredError:
        flash(_("The source did not consent to a referral: nothing was sent."), "error")
        return _page(request_uuid, form, 409)
    except (care_queue.NotSealedToYouError, care_queue.CareLockedError):
        flash(_("This request is not encrypted to your key: it cannot be referred."), "error")
        return _page(request_uuid, form, 409)
    except (referrals.InvalidReferralError, NotFoundError):
        flash(_("That referral was not accepted; nothing was sent."), "error")
        return _page(request_uuid, form, 400)
    flash(_("Your answer was encrypted and stored for the source."), "success")
    if org:
        flash(_("The source was referred."), "success")
        return redirect(url_for("partners.referral", referral_uuid=made.uuid))
    return _to_request(request_uuid)


@bp.route("/<request_uuid>/refer", methods=["POST"])
def refer(request_uuid: str) -> ResponseReturnValue:
    form = CareReferForm()
    _checked(form)
    rt = runtime()
    try:
        made = care_queue.refer(
            db(),
            rt.keyring,
            current_reviewer(),
            request_uuid,
            form.org.data or "",
            session_notes_key(),
            rt.submission_fingerprint,
        )
    except referrals.ConsentRequiredError:
        flash(_("The source did not consent to a referral: nothing was sent."), "error")
    except (care_queue.NotSealedToYouError, care_queue.CareLockedError):
        flash(_("This request is not encrypted to your key: it cannot be referred."), "error")
    except (referrals.InvalidReferralError, NotFoundError):
        flash(_("That referral was not accepted."), "error")
    else:
        flash(_("The source was referred."), "success")
        return redirect(url_for("partners.referral", referral_uuid=made.uuid))
    return _to_request(request_uuid)
