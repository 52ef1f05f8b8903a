"""The logged-in source's page: send a message and files, read and delete replies."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_number
from flask_babel import gettext as _

from keys.errors import DecryptionError, OutputTooLargeError
from source_app.auth import (
    current_credentials,
    current_source,
    source_required,
    submit_as_current_source,
)
from source_app.context import get_config, get_db, get_runtime
from source_app.errors import human_size, quota_hint, refusal_text
from source_app.receipts import flash_receipt_codes
from source_app.uploads import chosen_documents
from vault.errors import (
    EmptySubmissionError,
    NotFoundError,
    QuotaExceededError,
    StorageFullError,
    StoreError,
)
from vault.services import reply_keys, sources

bp = Blueprint("lookup", __name__)

# Werkzeug decodes form fields with errors="replace": U+FFFD means the bytes were not
# valid UTF-8, and sealing a damaged message would lose what the source wrote.
_REPLACEMENT_CHAR = "\ufffd"


@dataclass(frozen=True)
class ReplyView:
    uuid: str
    date: str
    text: str | None  # None: this reply could not be opened
    too_large: bool = False  # over the size a reply can have: refused, not shown
    # A partner organisation's reply (a referral the source consented to): its name.
    partner: str | None = None


def _replies() -> list[ReplyView]:
    runtime = get_runtime()
    source = current_source()
    if source is None:  # a new source, not recorded yet: nothing can have been replied
        return []
    passphrase = current_credentials().reply_passphrase
    db = get_db()
    replies = sources.replies_for_source(db, source)
    if not replies:
        return []
    views = []
    # One throwaway home holds the reply key for the whole page (vault.services.reply_keys).
    with reply_keys.opening(db, runtime.keyring, source, passphrase) as opener:
        for reply in replies:
            text: str | None = None
            too_large = False
            try:
                text = sources.read_reply(runtime.store, opener, source, reply, passphrase)
            except OutputTooLargeError:
                # Decryption stopped at the limit (e.g. a compression bomb): the page says
                # so instead of growing without bound. The source can still delete it.
                too_large = True
            except (DecryptionError, StoreError, OSError):
                pass
            partner = reply.referral.org.name if reply.referral is not None else None
            date = reply.created_at.date().isoformat()
            views.append(ReplyView(reply.uuid, date, text, too_large, partner))
    return views


def _page(*, error: str | None = None, message: str = "", status: int = 200) -> ResponseReturnValue:
    config = get_config()
    html = render_template(
        "lookup.html",
        replies=_replies(),
        new_source=current_source() is None,
        error=error,
        message=message,
        max_message_chars=sources.MAX_MESSAGE_CHARS,
        max_upload=human_size(config.max_upload_bytes),
        quota_hint=quota_hint(),
    )
    return html, status


@bp.get("/lookup")
@source_required
def lookup() -> ResponseReturnValue:
    return _page()


@bp.post("/submit")
@source_required
def submit() -> ResponseReturnValue:
    message = request.form.get("msg", "")
    documents = chosen_documents(request.files.getlist("fh"))
    # Rejected files are aborted by the teardown; say so, since they must be re-chosen.
    files_note = " " + _("The files you chose were not sent: choose them again.")
    files_note = files_note if documents else ""
    if _REPLACEMENT_CHAR in message:
        error = _("Your message contains characters that could not be read. Nothing was sent.")
        return _page(error=error + files_note, status=400)
    if len(message.strip()) > sources.MAX_MESSAGE_CHARS:
        error = _(
            "Your message is too long: it can have up to %(chars)s characters. Nothing was sent.",
            chars=format_number(sources.MAX_MESSAGE_CHARS),
        )
        return _page(error=error + files_note, message=message, status=400)
    try:
        created = submit_as_current_source(message, documents)
    except EmptySubmissionError:
        error = _("Write a message or choose at least one file. Nothing was sent.")
        return _page(error=error, status=400)
    except (StorageFullError, QuotaExceededError) as exc:
        status = 507 if isinstance(exc, StorageFullError) else 413
        return _page(error=refusal_text(exc) + files_note, message=message, status=status)
    flash(
        _(
            "Thank you. What you sent is encrypted and safely stored. Our team will read it "
            "as soon as possible. Come back later with your codename to read replies."
        ),
        "ok",
    )
    flash_receipt_codes(created)
    return redirect(url_for(".lookup"))


@bp.post("/reply/delete")
@source_required
def delete_reply() -> ResponseReturnValue:
    # The reply's id travels in the form body, not the URL, so it never reaches a log.
    source = current_source()
    if source is None:
        abort(404)
    try:
        sources.hide_reply_for_source(get_db(), source, request.form.get("reply", ""))
    except NotFoundError:
        abort(404)
    flash(_("The reply was deleted."), "ok")
    return redirect(url_for(".lookup"))
