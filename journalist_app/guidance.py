"""Legal guidance: a partner of a legal organisation asks WWoW's legal advisers about a
case referred to them; an adviser answers. Sealed like notes, audited
(vault.services.guidance)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.auth import session_notes_key
from journalist_app.context import current_reviewer, db, runtime
from journalist_app.guidance_forms import AnswerForm, QuestionForm
from journalist_app.refusals import record_refusal
from vault.models import Referral
from vault.services import guidance

bp = Blueprint("guidance", __name__)


@bp.errorhandler(guidance.GuidanceDeniedError)
def _denied(_exc: guidance.GuidanceDeniedError) -> ResponseReturnValue:
    # Its own audit action (the request's work is rolled back, the refusal kept).
    record_refusal("referral_guidance_denied")
    return render_template(
        "error.html", code=403, message=_("You are not allowed to do this.")
    ), 403


@bp.app_context_processor
def _links() -> dict[str, object]:
    def may_read_guidance(referral: Referral) -> bool:
        return guidance.may_read(db(), current_reviewer(), referral)

    return {"may_read_guidance": may_read_guidance}


def _to_thread(referral_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("guidance.thread", referral_uuid=referral_uuid))


@bp.route("/referrals/<referral_uuid>/guidance")
def thread(referral_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    rt = runtime()
    referral, exchanges = guidance.read_thread(
        db(), rt.keyring, reviewer, referral_uuid, session_notes_key(), rt.submission_fingerprint
    )
    return render_template(
        "guidance/thread.html",
        referral=referral,
        exchanges=exchanges,
        may_ask=guidance.is_legal_partner(db(), reviewer),
        may_answer=guidance.is_legal_adviser(reviewer),
        form=QuestionForm(),
        answer_form=AnswerForm(),
    )


@bp.route("/referrals/<referral_uuid>/guidance", methods=["POST"])
def ask(referral_uuid: str) -> ResponseReturnValue:
    form = QuestionForm()
    rt = runtime()
    try:
        if not form.validate_on_submit():
            raise guidance.InvalidGuidanceError("invalid form")
        guidance.ask(
            db(),
            rt.keyring,
            current_reviewer(),
            referral_uuid,
            form.text.data or "",
            rt.submission_fingerprint,
        )
    except guidance.InvalidGuidanceError:
        flash(_("The question was empty or too long; nothing was sent."), "error")
    else:
        flash(_("Your question was encrypted and sent to WWoW's legal advisers."), "success")
    return _to_thread(referral_uuid)


@bp.route("/guidance/questions/<question_uuid>/answer", methods=["POST"])
def answer(question_uuid: str) -> ResponseReturnValue:
    form = AnswerForm()
    rt = runtime()
    try:
        if not form.validate_on_submit():
            raise guidance.InvalidGuidanceError("invalid form")
        made = guidance.answer(
            db(),
            rt.keyring,
            current_reviewer(),
            question_uuid,
            form.text.data or "",
            rt.submission_fingerprint,
        )
    except guidance.InvalidGuidanceError:
        flash(_("The answer was empty or too long; nothing was sent."), "error")
        return redirect(url_for("guidance.questions"))
    flash(_("Your answer was encrypted and sent."), "success")
    return _to_thread(made.question.referral.uuid)


@bp.route("/guidance/questions")
def questions() -> ResponseReturnValue:
    waiting, answered = guidance.pending(db(), current_reviewer())
    return render_template("guidance/questions.html", waiting=waiting, answered=answered)
