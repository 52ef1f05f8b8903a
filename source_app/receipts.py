"""Custody receipts as a source sees them: a short code for each thing they sent, and the
server's receipt public key with its fingerprint.

A code is 60 bits of the signed receipt's hash (vault.services.custody.receipt_code):
noting it lets a source later check, here or through WWoW, that what they sent was
received and recorded unaltered. The codes say nothing about the content.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, flash, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from keys.lifecycle import fingerprint_groups
from source_app.auth import current_source, source_required
from source_app.context import get_db, get_runtime
from vault.models import Submission
from vault.services import custody

__all__ = ["bp", "flash_receipt_codes"]

bp = Blueprint("receipts", __name__)


def flash_receipt_codes(created: Sequence[Submission]) -> None:
    """After sending: one line with the receipt code of each thing just sent."""
    rows = custody.receipts_for(get_db(), [s.uuid for s in created])
    if rows:
        codes = ", ".join(custody.receipt_code(row.hash) for row in rows)
        flash(_("Your receipt codes: %(codes)s", codes=codes), "ok")


@bp.get("/receipts")
@source_required
def mine() -> ResponseReturnValue:
    source = current_source()
    sent = source.submissions if source is not None else []
    rows = custody.receipts_for(get_db(), [s.uuid for s in sent])
    receipts = [
        {
            "code": custody.receipt_code(row.hash),
            "received_at": custody.to_record(row).body["received_at"][:16].replace("T", " "),
            "kind": row.kind,
        }
        for row in rows
    ]
    return render_template("receipts.html", receipts=receipts)


@bp.get("/receipt-key")
def receipt_key() -> ResponseReturnValue:
    key = get_runtime().receipt_key
    return render_template(
        "receipt_key.html",
        fingerprint=fingerprint_groups(key.fingerprint),
        public_key=key.verify_key.pem(),
    )
