"""Messages with the partner organisation on a case shared through a transfer: written
here (sealed on arrival to the partner's submission key and its published readers, and
to our readers; sent by `backupctl federation send-messages`), and the thread (each
message opened with the key passphrase held in this account's sealed session where it
is sealed to the account's key: ours always, the partner's when it sealed them to the
readers we published; the others are read on the workstation).
vault.services.case_messages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.auth import session_notes_key
from journalist_app.case_forms import PartnerMessageForm
from journalist_app.context import current_reviewer, db, runtime
from vault.errors import NotFoundError
from vault.services import case_messages, cases, notes

bp = Blueprint("case_messages", __name__, url_prefix="/cases")


@bp.route("/<case_uuid>/partner-messages")
def index(case_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    case = cases.get_case(db(), reviewer, case_uuid)
    transfers = case_messages.shared_transfers(db(), case)
    if not transfers:
        abort(404)
    rt = runtime()
    try:
        thread = case_messages.read_thread(
            db(),
            rt.keyring,
            reviewer,
            case_uuid,
            session_notes_key(),
            submission_fingerprint=rt.submission_fingerprint,
        )
    except notes.NotesLockedError:
        thread, locked = [], True
    else:
        locked = False
    forms = [
        (t, PartnerMessageForm(formdata=None, transfer=t.transfer_uuid))
        for t in transfers
        if t.peer.active
    ]
    return render_template(
        "cases/partner_messages.html", case=case, thread=thread, locked=locked, forms=forms
    )


@bp.route("/<case_uuid>/partner-messages", methods=["POST"])
def add(case_uuid: str) -> ResponseReturnValue:
    form = PartnerMessageForm()
    if form.validate_on_submit():
        rt = runtime()
        try:
            case_messages.queue_message(
                db(),
                rt.keyring,
                current_reviewer(),
                case_uuid,
                form.transfer.data or "",
                form.text.data or "",
                rt.submission_fingerprint,
            )
        except cases.InvalidCaseInputError:
            flash(_("The message was empty or too long; nothing was saved."), "error")
        except (NotFoundError, case_messages.MessageRefusedError):
            flash(_("This partner organisation can no longer be written to."), "error")
        else:
            flash(
                _("The message was encrypted and will be sent to the partner organisation."),
                "success",
            )
    else:
        flash(_("The message was empty or too long; nothing was saved."), "error")
    return redirect(url_for("case_messages.index", case_uuid=case_uuid))
