"""The instance's submission public key at `/public-key`, as SecureDrop serves it.

Reviewer clients built for SecureDrop fetch it here to encrypt each reply to the
submission key as well as to the source's key, so the air-gapped workstation can read
every reply too. Only the public half exists on this server.
"""

from __future__ import annotations

import io

from flask import Blueprint, send_file
from flask.typing import ResponseReturnValue

from source_app.context import get_runtime

__all__ = ["bp"]

bp = Blueprint("public_key", __name__)


@bp.get("/public-key")
def download() -> ResponseReturnValue:
    runtime = get_runtime()
    armored = runtime.keyring.export_public(runtime.submission_fingerprint)
    return send_file(
        io.BytesIO(armored.encode("ascii")),
        mimetype="application/pgp-keys",
        as_attachment=True,
        download_name="backup-submission-key.asc",
        max_age=0,
    )
