"""WTForms for the reviewer interface. Every form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp

from vault.models import Role
from vault.models.reviewer import USERNAME_MAX
from vault.services.replies import MAX_REPLY_CHARS
from vault.services.reviewers import MAX_PASSPHRASE_CHARS, USERNAME_MIN


def role_choices() -> list[tuple[str, str]]:
    labels = {Role.ANALYST: _l("Analyst"), Role.PARTNER: _l("Partner"), Role.ADMIN: _l("Admin")}
    return [(role.value, str(labels[role])) for role in Role]


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[InputRequired(), Length(max=USERNAME_MAX)])
    passphrase = PasswordField(
        _l("Passphrase"), validators=[InputRequired(), Length(max=MAX_PASSPHRASE_CHARS)]
    )
    code = StringField(_l("Two-factor code"), validators=[InputRequired(), Length(max=16)])


class ReplyForm(FlaskForm):
    message = TextAreaField(_l("Reply"), validators=[InputRequired(), Length(max=MAX_REPLY_CHARS)])


class NewReviewerForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[
            InputRequired(),
            Length(min=USERNAME_MIN, max=USERNAME_MAX),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                message=_l("Use letters, digits, dots, dashes and underscores only."),
            ),
        ],
    )
    role = SelectField(_l("Role"), validators=[InputRequired()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[InputRequired()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
