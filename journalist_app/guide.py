"""The investigators' guide, in the reader's language (else English), and its PDF when
the operator has built it (`backupctl guide pdf`, into the instance directory).

Open to every logged-in account: it holds no case data, and analysts and partners alike
meet survivors. The page is self-contained (the interface's inline style, nothing
loaded from anywhere) and prints cleanly, so it can be saved and read offline.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, send_file
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from journalist_app import guide_text
from journalist_app.context import current_reviewer, runtime

bp = Blueprint("guide", __name__, url_prefix="/guide")

PDF_FOLDER = "guide"


def pdf_name(language: str) -> str:
    return f"backup-guide-{language}.pdf"


def pdf_path(instance_dir: Path, language: str) -> Path:
    """Where `backupctl guide pdf` puts the PDF of `language` by default."""
    return instance_dir / PDF_FOLDER / pdf_name(language)


@bp.route("/")
def index() -> ResponseReturnValue:
    current_reviewer()
    locale = get_locale()
    guide = guide_text.load(str(locale) if locale is not None else guide_text.DEFAULT_LANGUAGE)
    instance_dir = runtime().config.instance_dir
    pdfs = [
        code for code in guide_text.available_languages() if pdf_path(instance_dir, code).is_file()
    ]
    return render_template("guide/index.html", guide=guide, pdfs=pdfs)


@bp.route("/<language>.pdf")
def pdf(language: str) -> ResponseReturnValue:
    current_reviewer()
    # Only a language with a guide names a file: nothing else reaches the filesystem.
    if language not in guide_text.available_languages():
        abort(404)
    path = pdf_path(runtime().config.instance_dir, language)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="application/pdf", download_name=pdf_name(language))
