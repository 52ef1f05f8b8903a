"""The directory of professionals (docs/federation.md): the partner professionals our
peer instances list, with filters, for analysts, admins and partners; and, for a partner
professional, their own agreement to be listed to our peers (given, changed, withdrawn)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField

from journalist_app.case_forms import SERVICE_LABELS
from journalist_app.context import current_reviewer, db
from journalist_app.forms import at_most, required
from vault.models import PartnerService, Role
from vault.services import directory

bp = Blueprint("directory", __name__)
_FILTER_MAX = 64


class ListingForm(FlaskForm):
    profession = SelectField(_l("Profession"), validators=[required()])
    regions = StringField(
        _l("Regions served"),
        validators=[required(), at_most(500)],
        description=_l("Separated by commas."),
    )
    languages = StringField(
        _l("Languages"),
        validators=[required(), at_most(500)],
        description=_l("Separated by commas."),
    )
    availability = StringField(
        _l("Availability"),
        validators=[at_most(directory.TEXT_MAX)],
        description=_l("For example: weekdays, 8:00 to 17:00; emergencies at any time."),
    )
    agree = BooleanField(
        _l(
            "I agree that my organisation, profession, regions, languages and availability "
            "are sent to the partner instances of this one and shown to their analysts and "
            "partners. I can withdraw this at any time."
        ),
        validators=[required()],
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.profession.choices = [(s.value, str(SERVICE_LABELS[s])) for s in PartnerService]


def profession_label(value: str) -> str:
    """A known profession in the reader's language; a peer's own word as it is."""
    try:
        return str(SERVICE_LABELS[PartnerService(value)])
    except ValueError:
        return value


def _arg(name: str) -> str:
    return " ".join(request.args.get(name, "").split())[:_FILTER_MAX]


@bp.route("/professionals/")
def index() -> ResponseReturnValue:
    reviewer = current_reviewer()
    region, profession, language = _arg("region"), _arg("profession"), _arg("language")
    entries = directory.peer_entries(
        db(), reviewer, region=region, profession=profession, language=language
    )
    mine = directory.my_listing(db(), reviewer) if reviewer.role is Role.PARTNER else None
    form = ListingForm()
    if mine is not None:
        form.profession.data = mine.profession
        form.regions.data = ", ".join(mine.regions)
        form.languages.data = ", ".join(mine.languages)
        form.availability.data = mine.availability
    return render_template(
        "directory/index.html",
        entries=entries,
        professions=directory.professions(db()),
        filters={"region": region, "profession": profession, "language": language},
        mine=mine,
        form=form,
        is_partner=reviewer.role is Role.PARTNER,
        profession_label=profession_label,
    )


@bp.route("/professionals/listing", methods=["POST"])
def agree() -> ResponseReturnValue:
    form = ListingForm()
    if form.validate_on_submit():
        try:
            directory.agree(
                db(),
                current_reviewer(),
                profession=form.profession.data or "",
                regions=directory.split_words(form.regions.data or ""),
                languages=directory.split_words(form.languages.data or ""),
                availability=form.availability.data or "",
            )
        except directory.InvalidEntryError:
            flash(_("That entry was not accepted."), "error")
        else:
            flash(
                _("You are listed: partner instances receive your entry at the next publication."),
                "success",
            )
    else:
        flash(_("That entry was not accepted."), "error")
    return redirect(url_for("directory.index"))


@bp.route("/professionals/listing/withdraw", methods=["POST"])
def withdraw() -> ResponseReturnValue:
    # CSRFProtect has checked the token.
    if directory.withdraw(db(), current_reviewer()):
        flash(
            _("Withdrawn: your entry leaves the partner instances at the next publication."),
            "success",
        )
    return redirect(url_for("directory.index"))
