"""Forms of the second sign-in step and of the account's security page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length


class AuthenticatorCodeForm(FlaskForm):
    code = StringField(
        _l("Code from the authenticator app"),
        description=_l("Six digits; a new code appears every 30 seconds."),
        validators=[InputRequired(message=_l("Enter the code the app shows.")), Length(max=20)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "spellcheck": "false",
            "autocapitalize": "off",
        },
    )


class RecoveryCodeForm(FlaskForm):
    recovery_code = StringField(
        _l("Recovery code"),
        description=_l("One of the codes you wrote down when you set up your second factor."),
        validators=[
            InputRequired(message=_l("Enter one of your recovery codes.")),
            Length(max=100),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
    )


class ConfirmWithPasswordForm(FlaskForm):
    """Changes to how the account signs in ask for its password again."""

    password = PasswordField(
        _l("Your password"),
        validators=[InputRequired(message=_l("Enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
