"""Sources, their submissions and replies: list, open, download, reply, star, mark seen,
delete. Views parse the request and call `vault.services.inbox`, which checks roles."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.auth import session_notes_key
from journalist_app.context import current_reviewer, db, runtime
from journalist_app.forms import NO_REPLY_KEY_MESSAGE, ReplyForm
from vault.errors import EmptySubmissionError, NoReplyKeyError
from vault.models import CaseStatus, Role
from vault.services import inbox, inbox_query, replies, submissions, team_replies
from web_shared.params import query_int

bp = Blueprint("inbox", __name__)


def _to_source(source_uuid: str) -> ResponseReturnValue:
    return redirect(url_for("inbox.source", source_uuid=source_uuid))


@bp.route("/")
def index() -> ResponseReturnValue:
    """One page of sources, filtered and sorted from the query string (see inbox_query).

    Partners read no sources: their start page is their organisation's referrals."""
    if current_reviewer().role is Role.PARTNER:
        return redirect(url_for("partners.my_referrals"))
    args = request.args
    status = args.get("status", "")
    flt = inbox_query.InboxFilter(
        unread=args.get("unread") == "1",
        starred=args.get("starred") == "1",
        mine=args.get("mine") == "1",
        urgent=args.get("urgent") == "1",
        status=CaseStatus(status) if status in {s.value for s in CaseStatus} else None,
        label=(args.get("label") or "")[:32] or None,
        sort=args.get("sort", "recent"),
        page=query_int(args.get("page"), 1),
    )
    listing = inbox_query.list_page(db(), current_reviewer(), flt)
    return render_template(
        "inbox/index.html",
        sources=listing.sources,
        listing=listing,
        flt=flt,
        statuses=list(CaseStatus),
    )


@bp.route("/sources/<source_uuid>")
def source(source_uuid: str) -> ResponseReturnValue:
    """The source page; each reply shows its text where this session's key opens its
    team copy (in memory only: vault.services.team_replies)."""
    reviewer, rt = current_reviewer(), runtime()
    page = inbox.open_source(db(), reviewer, source_uuid)
    key = session_notes_key()
    replies = team_replies.read_replies(
        db(),
        rt.keyring,
        reviewer,
        source_uuid,
        key,
        submission_fingerprint=rt.submission_fingerprint,
    )
    return render_template(
        "inbox/source.html",
        page=page,
        replies=replies,
        states=team_replies.ReplyState,
        locked=key is None,
        form=ReplyForm(),
    )


def _ciphertext(path: Path, name: str) -> ResponseReturnValue:
    return send_file(
        path,
        mimetype="application/pgp-encrypted",
        as_attachment=True,
        download_name=name,
        conditional=False,
        etag=False,
        max_age=0,
    )


@bp.route("/sources/<source_uuid>/submissions/<submission_uuid>/download")
def download(source_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    submission, path = submissions.download_submission(
        db(), runtime().store, current_reviewer(), source_uuid, submission_uuid
    )
    return _ciphertext(path, submission.filename)


@bp.route("/sources/<source_uuid>/replies/<reply_uuid>/download")
def download_reply(source_uuid: str, reply_uuid: str) -> ResponseReturnValue:
    """The source's copy of a reply, as ciphertext: the workstation opens it with the
    submission key (a reply without a team copy is read there)."""
    reply, path = replies.download_reply(
        db(), runtime().store, current_reviewer(), source_uuid, reply_uuid
    )
    return _ciphertext(path, reply.filename)


@bp.route("/sources/<source_uuid>/reply", methods=["POST"])
def reply(source_uuid: str) -> ResponseReturnValue:
    form = ReplyForm()
    if not form.validate_on_submit():
        flash(_("The reply was empty or too long; nothing was sent."), "error")
        return _to_source(source_uuid)
    rt = runtime()
    try:
        replies.reply_to_source(
            db(),
            rt.store,
            rt.keyring,
            current_reviewer(),
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
    return _to_source(source_uuid)


@bp.route("/sources/<source_uuid>/star", methods=["POST"])
def star(source_uuid: str) -> ResponseReturnValue:
    inbox.set_starred(db(), current_reviewer(), source_uuid, True)
    return _to_source(source_uuid)


@bp.route("/sources/<source_uuid>/unstar", methods=["POST"])
def unstar(source_uuid: str) -> ResponseReturnValue:
    inbox.set_starred(db(), current_reviewer(), source_uuid, False)
    return _to_source(source_uuid)


@bp.route("/sources/<source_uuid>/seen", methods=["POST"])
def seen_all(source_uuid: str) -> ResponseReturnValue:
    submissions.mark_seen(db(), current_reviewer(), source_uuid)
    return _to_source(source_uuid)


@bp.route("/sources/<source_uuid>/submissions/<submission_uuid>/seen", methods=["POST"])
def seen(source_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    submissions.mark_seen(db(), current_reviewer(), source_uuid, submission_uuid)
    return _to_source(source_uuid)


@bp.route("/sources/<source_uuid>/submissions/<submission_uuid>/delete", methods=["GET", "POST"])
def delete_submission(source_uuid: str, submission_uuid: str) -> ResponseReturnValue:
    """GET asks for confirmation; only the POST (with its CSRF token) deletes."""
    reviewer = current_reviewer()
    if request.method == "GET":
        submission = submissions.get_submission(db(), reviewer, source_uuid, submission_uuid)
        return render_template(
            "inbox/confirm_delete_submission.html",
            source=submission.source,
            submission=submission,
        )
    submissions.delete_submission(db(), runtime().redis, reviewer, source_uuid, submission_uuid)
    flash(_("The submission is being deleted."), "success")
    return _to_source(source_uuid)


@bp.route("/sources/<source_uuid>/delete", methods=["GET", "POST"])
def delete_source(source_uuid: str) -> ResponseReturnValue:
    """GET asks for confirmation; only the POST (with its CSRF token) deletes."""
    reviewer = current_reviewer()
    if request.method == "GET":
        found = inbox.get_source(db(), reviewer, source_uuid)
        return render_template("inbox/confirm_delete_source.html", source=found)
    inbox.delete_source(db(), runtime().redis, reviewer, source_uuid)
    flash(_("The source and everything they sent are being deleted."), "success")
    return redirect(url_for("inbox.index"))
