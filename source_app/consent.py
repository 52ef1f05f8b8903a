"""Consent: shown as it stands, changed one question at a time.

A logged-in source sees their current answers, pre-chosen, on the consent page and on the
ASSIST form. The server cannot read their consent documents (sealed to the submission
key), so it reads the source's own copy of the answers, sealed to their reply key
(`vault.services.source_consent`), in memory with the passphrase in their session, as
their page does with replies. A question whose answer cannot be shown (given before the
server kept that copy, or not readable) offers "As before", chosen by default: what is
left as before is not written in the new document, so nothing is withdrawn by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from source_app import forms_labels as labels
from source_app.alert import form_page, seal
from source_app.auth import current_credentials, current_source, source_required
from source_app.context import get_db, get_runtime
from vault import reports
from vault.consent import stated_consent
from vault.reports import ConsentState
from vault.services import reply_keys, source_consent

bp = Blueprint("consent", __name__, url_prefix="/help")

_RADIO = {True: "yes", False: "no", None: "not_now"}


def known_consent() -> ConsentState | None:
    """The answers that can be shown: every use for a source that has sent nothing yet
    (all "not now"), the sealed copy's for a recorded source, None if there is none."""
    source = current_source()
    if source is None:
        return dict.fromkeys(reports.CONSENTS)
    runtime = get_runtime()
    db, passphrase = get_db(), current_credentials().reply_passphrase
    with reply_keys.opening(db, runtime.keyring, source, passphrase) as opener:
        return source_consent.read_state(db, runtime.store, opener, source, passphrase)


def page_context(known: ConsentState | None) -> dict[str, Any]:
    """What a form with the consent questions needs: the radios chosen on a fresh page,
    and the uses whose answer cannot be shown (they offer "As before")."""
    known = known or {}
    return {
        "prefill": {f"consent_{name}": _RADIO[value] for name, value in known.items()},
        "consent_unknown": [name for name in reports.CONSENTS if name not in known],
    }


def state_after(known: ConsentState | None, document: Mapping[str, Any]) -> ConsentState:
    """The answers known once `document` is sent: the earlier ones, updated."""
    return {**(known or {}), **stated_consent(document)}


@bp.route("/consent", methods=["GET", "POST"])
@source_required
def change() -> ResponseReturnValue:
    """Consent can change at any time: each change is a new sealed document carrying
    the answers the source chose (all of them when they were shown)."""
    known = known_consent()
    if request.method == "GET":
        return form_page("consent.html", **page_context(known))
    fields = {key: request.form.getlist(key) for key in request.form}
    try:
        document = reports.consent_from_form(fields)
    except reports.ReportError as exc:
        errors = labels.error_messages(exc.codes)
        return form_page("consent.html", errors=errors, status=400, **page_context(known))
    if known is not None and all(
        name in known and known[name] == value for name, value in document["consent"].items()
    ):
        flash(_("You changed nothing: your answers stay as they were."), "ok")
        return redirect(url_for("lookup.lookup"))
    seal(document, consent_state=state_after(known, document))
    flash(_("Thank you. Your choices are saved. You can change them again at any time."), "ok")
    return redirect(url_for("lookup.lookup"))
