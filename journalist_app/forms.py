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

# Our own words for the validators' messages, so that they are in our catalogue. (What
# WTForms says itself, e.g. on an impossible choice, comes from its own translations.)
REQUIRED = _l("This field is required.")


def required() -> InputRequired:
    return InputRequired(message=REQUIRED)


def at_most(n: int) -> Length:
    return Length(max=n, message=_l("Use at most %(max)d characters."))


def role_choices() -> list[tuple[str, str]]:
    labels = {Role.ANALYST: _l("Analyst"), Role.PARTNER: _l("Partner"), Role.ADMIN: _l("Admin")}
    return [(role.value, str(labels[role])) for role in Role]


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[required(), at_most(USERNAME_MAX)])
    passphrase = PasswordField(
        _l("Passphrase"), validators=[required(), at_most(MAX_PASSPHRASE_CHARS)]
    )
    code = StringField(_l("Two-factor code"), validators=[required(), at_most(16)])


class ReplyForm(FlaskForm):
    message = TextAreaField(_l("Reply"), validators=[required(), at_most(MAX_REPLY_CHARS)])


# What a reply to a source transferred from a partner organisation gets (NoReplyKeyError).
NO_REPLY_KEY_MESSAGE = _l(
    "This source came to us from a partner organisation: it has no codename here and "
    "cannot receive replies. Nothing was sent."
)


class NewReviewerForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[
            required(),
            Length(
                min=USERNAME_MIN,
                max=USERNAME_MAX,
                message=_l("Use between %(min)d and %(max)d characters."),
            ),
            Regexp(
                r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                message=_l("Use letters, digits, dots, dashes and underscores only."),
            ),
        ],
    )
    role = SelectField(_l("Role"), validators=[required()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[required()])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
