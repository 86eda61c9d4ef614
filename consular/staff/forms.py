"""Forms of the staff pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class CheckInForm(FlaskForm):
    reference = StringField(
        _l("Booking reference"),
        description=_l("Type it, or scan the QR code of the confirmation."),
        validators=[InputRequired(message=_l("Enter the booking reference."))],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )


class WalkInForm(FlaskForm):
    service = SelectField(_l("Service"), coerce=int, validate_choice=True)
    urgent = BooleanField(_l("Urgent case (served first, beyond the walk-in share)"))
    note = StringField(_l("Note (optional)"), validators=[Length(max=200)])


class DeskForm(FlaskForm):
    desk = SelectField(_l("Your desk"), coerce=int, validate_choice=True)


class TransferForm(FlaskForm):
    service = SelectField(_l("Transfer to service"), coerce=int, validate_choice=True)
    desk = SelectField(_l("or to desk"), coerce=int, validate_choice=True)


class NoShowForm(FlaskForm):
    confirm = BooleanField(_l("Yes, the visitor did not come"))


class DeskSettingsForm(FlaskForm):
    """A desk as a manager keeps it: its name, what it serves, whether it is in use."""

    name = StringField(
        _l("Name"),
        description=_l("As the sign above the desk shows it, e.g. 3."),
        validators=[
            InputRequired(message=_l("Enter the desk's name, as its sign shows it.")),
            Length(max=32),
        ],
    )
    services = SelectMultipleField(
        _l("Services"),
        coerce=int,
        description=_l("Leave all unticked for a desk that serves every service."),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    active = BooleanField(_l("In use"), default=True)
