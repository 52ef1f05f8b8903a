"""Observatory releases in the reviewer interface (docs/observatory.md, docs/reviewer.md).

Admins import a signed release (the document and its detached signature, as
`backupctl workstation release make` writes them); the signature is checked against the
instance's submission public key, the key whose secret half signs on the workstation.
Everyone who may see a release sees it as tables and the workstation's SVG charts (no
script: the SVG is inline). Analysts and admins see every release, partners only those
an admin published to them.

Categories are shown in words in the viewer's language, with the code beside for places
(vault.observatory_words); the charts are drawn in that language too.

Verification and charts are the workstation's own code (`workstation.observatory`):
this app is an outer layer and may import it; vault may not, so the service receives the
verifier as a function (vault.services.releases.Verifier).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from wtforms import HiddenField

from journalist_app.context import current_reviewer, db, runtime
from vault.services import releases
from vault.services.audit import record_refusal
from web_shared.observatory_words import viewer_words
from workstation.observatory.charts import charts
from workstation.observatory.release_sign import verify_release

bp = Blueprint("observatory", __name__, url_prefix="/observatory")

FILE_REQUIRED = _l("Choose a file.")
# A release's dimensions in words (lower case: they follow "Victims by").
DIMENSION_LABELS = {
    "period": _l("period"),
    "country": _l("country"),
    "region": _l("region"),
    "act": _l("principal act"),
    "victim_sex": _l("sex of the victims"),
    "age_band": _l("age band"),
    "perpetrator": _l("perpetrator"),
}


class ImportForm(FlaskForm):
    document = FileField(_l("Release (release-….json)"), validators=[FileRequired(FILE_REQUIRED)])
    signature = FileField(
        _l("Its signature (release-….json.asc)"), validators=[FileRequired(FILE_REQUIRED)]
    )


class PublishForm(FlaskForm):
    published = HiddenField()


def _admin_only() -> None:
    reviewer = current_reviewer()
    if not reviewer.is_admin:
        record_refusal(db(), reviewer, "admin_access_denied", "observatory")
        abort(403)


@bp.route("/")
def index() -> ResponseReturnValue:
    reviewer = current_reviewer()
    found = releases.visible_releases(db(), reviewer)
    form = ImportForm() if reviewer.is_admin else None
    return _index(found, form)


def _index(found: list[Any], form: ImportForm | None) -> str:
    words = viewer_words()
    return render_template(
        "observatory/index.html",
        releases=found,
        form=form,
        countries=words.countries,
        period=words.period,
        dimension_labels=DIMENSION_LABELS,
    )


@bp.route("/import", methods=["POST"])
def import_release() -> ResponseReturnValue:
    _admin_only()
    form = ImportForm()
    if not form.validate_on_submit():
        found = releases.visible_releases(db(), current_reviewer())
        return _index(found, form), 400
    rt = runtime()
    fingerprint = rt.submission_fingerprint
    data = form.document.data.read(releases.MAX_RELEASE_BYTES + 1)
    signature = form.signature.data.read(64 * 1024 + 1)
    try:
        release = releases.import_release(
            db(),
            current_reviewer(),
            data,
            signature,
            public_key=rt.keyring.export_public(fingerprint),
            signer_fingerprint=fingerprint,
            verify=verify_release,
        )
    except releases.ReleaseRefusedError as exc:
        flash(_refusal(exc), "error")
        found = releases.visible_releases(db(), current_reviewer())
        return _index(found, form), 400
    flash(_("Release imported: its signature is good."), "success")
    return redirect(url_for("observatory.show", release_uuid=release.uuid))


def _refusal(exc: releases.ReleaseRefusedError) -> str:
    if exc.reason == "duplicate":
        return _("Refused: this release was already imported.")
    if exc.reason == "too_large":
        return _("Refused: this file is too large to be a release.")
    # gpg's and the document check's own words, in English, after ours.
    return _(
        "Refused: the signature or the release did not check out (%(detail)s). It was "
        "changed, damaged, or not signed with this instance's submission key.",
        detail=str(exc),
    )


def _margin(document: dict[str, Any], dim: int) -> list[tuple[str, int | None]]:
    total = document["method"]["total_marker"]
    values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    size = len(document["dimensions"])
    return [
        (cat, values[tuple(cat if i == dim else total for i in range(size))])
        for cat in document["dimensions"][dim]["categories"]
    ]


def _cross(document: dict[str, Any], chosen: dict[str, str]) -> dict[str, Any] | None:
    """The first two dimensions against each other, with their totals, at the category
    `chosen` (a GET parameter) of each further dimension, or its total."""
    dims = document["dimensions"]
    if len(dims) < 2:
        return None
    total = document["method"]["total_marker"]
    values = {tuple(e["key"]): e["value"] for e in document["entries"]}
    rest = []
    further = []
    for dim in dims[2:]:
        pick = chosen.get(dim["name"], total)
        pick = pick if pick in dim["categories"] else total
        rest.append(pick)
        further.append({"name": dim["name"], "categories": dim["categories"], "chosen": pick})
    rows_cats = [*dims[0]["categories"], total]
    cols_cats = [*dims[1]["categories"], total]
    return {
        "row_dim": dims[0]["name"],
        "col_dim": dims[1]["name"],
        "cols": cols_cats,
        "rows": [(r, [values[(r, c, *rest)] for c in cols_cats]) for r in rows_cats],
        "total": total,
        "further": further,
    }


@bp.route("/<release_uuid>")
def show(release_uuid: str) -> ResponseReturnValue:
    reviewer = current_reviewer()
    release = releases.get_release(db(), reviewer, release_uuid)
    document = releases.document_of(release)
    margins = [(d["name"], _margin(document, i)) for i, d in enumerate(document["dimensions"])]
    words = viewer_words()
    # The workstation's charts: plain SVG, no script, every text escaped by charts.py,
    # drawn from a document whose signature by the submission key was checked.
    svgs = {
        name: Markup(svg)  # noqa: S704  # nosec B704
        for name, svg in charts(document, words).items()
    }
    return render_template(
        "observatory/show.html",
        release=release,
        document=document,
        margins=margins,
        cross=_cross(document, request.args.to_dict()),
        dimension_labels=DIMENSION_LABELS,
        category=words.with_code,
        countries=words.countries,
        period=words.period,
        charts=svgs,
        publish_form=PublishForm() if reviewer.is_admin else None,
    )


@bp.route("/<release_uuid>/release.json")
def download(release_uuid: str) -> ResponseReturnValue:
    """The signed bytes as imported, to verify again anywhere."""
    release = releases.get_release(db(), current_reviewer(), release_uuid)
    return Response(
        release.document,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="release-{release.uuid}.json"'},
    )


@bp.route("/<release_uuid>/release.json.asc")
def download_signature(release_uuid: str) -> ResponseReturnValue:
    release = releases.get_release(db(), current_reviewer(), release_uuid)
    return Response(
        release.signature,
        mimetype="application/pgp-signature",
        headers={"Content-Disposition": f'attachment; filename="release-{release.uuid}.json.asc"'},
    )


@bp.route("/<release_uuid>/publish", methods=["POST"])
def publish(release_uuid: str) -> ResponseReturnValue:
    _admin_only()
    form = PublishForm()
    if not form.validate_on_submit() or form.published.data not in ("1", "0"):
        abort(400)
    reviewer = current_reviewer()
    release = releases.get_release(db(), reviewer, release_uuid)
    changed = releases.publish(db(), reviewer, release, form.published.data == "1")
    if changed:
        flash(
            _("Published to partners.")
            if release.published
            else _("Withdrawn: partners no longer see it."),
            "success",
        )
    return redirect(url_for("observatory.show", release_uuid=release.uuid))
