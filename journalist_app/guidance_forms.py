"""Forms of the legal guidance channel and of naming legal advisers (CSRF on each)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import AnyOf

from journalist_app.forms import at_most, required
from vault.services.guidance import MAX_GUIDANCE_CHARS


class QuestionForm(FlaskForm):
    text = TextAreaField(_l("Your question"), validators=[required(), at_most(MAX_GUIDANCE_CHARS)])


class AnswerForm(FlaskForm):
    text = TextAreaField(_l("Answer"), validators=[required(), at_most(MAX_GUIDANCE_CHARS)])


class LegalAdviserForm(FlaskForm):
    adviser = HiddenField(validators=[AnyOf(["0", "1"])])
