"""Encrypted case notes: write (sealed on arrival) and read (opened with the key
passphrase held in this account's sealed server-side session)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from journalist_app.auth import session_notes_key
from journalist_app.case_forms import NoteForm
from journalist_app.context import current_reviewer, db, runtime
from vault.services import cases, notes

bp = Blueprint("case_notes", __name__, url_prefix="/cases")


@bp.route("/<case_uuid>/notes")
def index(case_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    case = cases.get_case(db(), reviewer, case_uuid)
    rt = runtime()
    try:
        opened = notes.read_notes(
            db(),
            rt.keyring,
            reviewer,
            case_uuid,
            session_notes_key(),
            submission_fingerprint=rt.submission_fingerprint,
        )
    except notes.NotesLockedError:
        opened, locked = [], True
    else:
        locked = False
    return render_template(
        "cases/notes.html", case=case, notes=opened, locked=locked, form=NoteForm()
    )


@bp.route("/<case_uuid>/notes", methods=["POST"])
def add(case_uuid: str) -> ResponseReturnValue:
    form = NoteForm()
    if form.validate_on_submit():
        rt = runtime()
        try:
            notes.add_note(
                db(),
                rt.keyring,
                current_reviewer(),
                case_uuid,
                form.text.data or "",
                rt.submission_fingerprint,
            )
        except cases.InvalidCaseInputError:
            flash(_("The note was empty or too long; nothing was saved."), "error")
        else:
            flash(_("The note was encrypted and saved."), "success")
    else:
        flash(_("The note was empty or too long; nothing was saved."), "error")
    return redirect(url_for("case_notes.index", case_uuid=case_uuid))
