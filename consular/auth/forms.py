"""Sign-in and password forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from consular.services.password_policy import MAX_LENGTH, MIN_LENGTH


class SignInForm(FlaskForm):
    email = StringField(
        _l("Email address"),
        validators=[InputRequired(message=_l("Enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "username", "type": "email", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(message=_l("Enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(FlaskForm):
    # For the rules the page shows; no maxlength on the input, which would cut a pasted one.
    min_length = MIN_LENGTH
    max_length = MAX_LENGTH

    current_password = PasswordField(
        _l("Current password"),
        validators=[InputRequired(message=_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password"),
        # Its length, up to 128 characters, is checked by the password policy.
        description=_l("At least 12 characters. A few unrelated words are easy to remember."),
        validators=[InputRequired(message=_l("Enter a new password."))],
        render_kw={"autocomplete": "new-password"},
    )
    repeat_password = PasswordField(
        _l("New password again"),
        validators=[InputRequired(message=_l("Enter the new password again."))],
        render_kw={"autocomplete": "new-password"},
    )
