"""Export bundles for the air-gapped workstation (see vault.services.export).

The bundle is built in an anonymous temporary file: it holds ciphertext, receipts and
public keys only, and the file has no name on disk to leave behind.
"""

from __future__ import annotations

import re
import tempfile

from flask import Blueprint, abort, request, send_file
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from journalist_app.context import current_reviewer, db, runtime
from vault.services import export

bp = Blueprint("export", __name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_SOURCES_PER_EXPORT = 500


class ExportForm(FlaskForm):
    """Only the CSRF token: the chosen sources are repeated `source` fields."""


@bp.route("/export", methods=["POST"])
def create() -> ResponseReturnValue:
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400)
    chosen = list(dict.fromkeys(request.form.getlist("source")))
    if not chosen or len(chosen) > MAX_SOURCES_PER_EXPORT:
        abort(400)
    items = list(dict.fromkeys(request.form.getlist("item")))
    if not all(_UUID.match(value) for value in [*chosen, *items]):
        abort(400)
    handle = tempfile.TemporaryFile()  # send_file closes it
    try:
        summary = export.build_export(
            db(),
            runtime().store,
            current_reviewer(),
            chosen,
            handle,
            item_uuids=items or None,
            tsa_certificates=runtime().config.tsa.certificate_pems(),
        )
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return send_file(
        handle,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"backup-export-{summary.export_uuid[:8]}.zip",
        conditional=False,
        etag=False,
        max_age=0,
    )
