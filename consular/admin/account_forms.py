"""Forms of the account pages: the list's filters, a new account, an account's details."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from consular.admin.form_base import AdminForm, choice_values
from consular.models import Office, Role
from consular.models.i18n import LANGUAGES

# Each language in its own name, as the language switcher shows them.
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English", "ko": "한국어"}


def role_choices() -> list[tuple[str, Any]]:
    """The three roles with what each may do."""
    return [
        (Role.CLERK.value, _l("Clerk: runs the queue of their offices")),
        (Role.MANAGER.value, _l("Manager: also sets their offices' schedules")),
        (Role.ADMIN.value, _l("Administrator: every office and the administration")),
    ]


def role_label(role: str) -> str:
    """The name of a role in the reader's language."""
    labels = {
        Role.CLERK.value: _("Clerk"),
        Role.MANAGER.value: _("Manager"),
        Role.ADMIN.value: _("Administrator"),
    }
    return labels.get(str(role), str(role))


def _choice_values(field: SelectField) -> set[str]:
    return {str(value) for value in choice_values(field)}


class _AccountDetails(AdminForm):
    """The fields of an account; the email address is given once, at creation."""

    email = StringField(
        _l("Email address"),
        description=_l("The person signs in with it."),
        validators=[
            InputRequired(message=_l("Enter an email address.")),
            Length(max=254, message=_l("Use at most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "off", "type": "email", "spellcheck": "false"},
    )
    name = StringField(
        _l("Name"),
        validators=[
            InputRequired(message=_l("Enter the person's name.")),
            Length(max=200, message=_l("Use at most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "off", "maxlength": 200},
    )
    # Values are checked below with our own messages rather than WTForms' "Not a valid choice".
    role = RadioField(
        _l("Role"),
        validate_choice=False,
        validators=[InputRequired(message=_l("Choose a role."))],
    )
    offices = SelectMultipleField(
        _l("Offices"),
        description=_l("Clerks and managers work at these offices; administrators reach all."),
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    language = SelectField(
        _l("Language of emails and pages"),
        validate_choice=False,
        validators=[InputRequired(message=_l("Choose a language."))],
    )

    def set_choices(self, offices: list[Office], locale: str) -> None:
        """Offer the roles, the given offices and the four languages."""
        self.role.choices = role_choices()
        self.offices.choices = [(str(o.id), o.display_name(locale)) for o in offices]
        self.language.choices = [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]

    def validate_role(self, field: SelectField) -> None:
        if field.data not in _choice_values(field):
            raise ValidationError(_("Choose a role."))

    def validate_offices(self, field: SelectMultipleField) -> None:
        if not set(field.data or []) <= _choice_values(field):
            raise ValidationError(_("Choose offices from the list."))

    def validate_language(self, field: SelectField) -> None:
        if field.data not in _choice_values(field):
            raise ValidationError(_("Choose a language."))

    def office_ids(self) -> list[int]:
        """The chosen offices' ids (valid once the form is validated)."""
        return [int(value) for value in self.offices.data or []]


class NewAccountForm(_AccountDetails):
    """A new account: its email address and details."""


class EditAccountForm(_AccountDetails):
    """An existing account: its email address stays."""

    email = None  # type: ignore[assignment]  # WTForms drops an inherited field set to None
    active = BooleanField(
        _l("Active: the account can sign in"),
        description=_l("Deactivating signs the person out everywhere at once."),
    )


class AccountFilterForm(AdminForm):
    """The account list's filters, read from the query string."""

    class Meta:
        csrf = False

    role = SelectField(_l("Role"), default="", validate_choice=False)
    office = SelectField(_l("Office"), default="", validate_choice=False)
    status = SelectField(_l("Status"), default="", validate_choice=False)
    q = StringField(
        _l("Name or email contains"),
        validators=[Length(max=200, message=_l("Use at most %(max)d characters."))],
    )

    def set_choices(self, offices: list[Office], locale: str) -> None:
        """Offer every role, office and status, each with an 'all' choice."""
        self.role.choices = [("", _("All roles"))] + [
            (value, role_label(value)) for value, _label in role_choices()
        ]
        self.office.choices = [("", _("All offices"))] + [
            (str(o.id), o.display_name(locale)) for o in offices
        ]
        self.status.choices = [
            ("", _("Active and deactivated")),
            ("active", _("Active")),
            ("inactive", _("Deactivated")),
        ]

    def validate_role(self, field: SelectField) -> None:
        if (field.data or "") not in _choice_values(field):
            raise ValidationError(_("Choose a role from the list."))

    def validate_office(self, field: SelectField) -> None:
        if (field.data or "") not in _choice_values(field):
            raise ValidationError(_("Choose an office from the list."))

    def validate_status(self, field: SelectField) -> None:
        if (field.data or "") not in _choice_values(field):
            raise ValidationError(_("Choose a status from the list."))
