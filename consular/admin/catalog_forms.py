"""Forms of the service-type and office pages; texts are asked in each of the four languages."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from consular.admin.form_base import AdminForm
from consular.models.i18n import LANGUAGE_NAMES, LANGUAGES
from consular.services.announcements import SPOKEN_LANGUAGES

# (code, name in itself) of each language, in the order the forms ask for texts.
LANGUAGE_CHOICES = [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]

DETAIL_SET_LABELS = {
    "current_passport": _l("Current passport (its expiry date)"),
    "spouse": _l("Spouse"),
    "child": _l("Child"),
    "parents": _l("Mother and father"),
}


class CheckboxesField(SelectMultipleField):
    """Several choices shown as checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _number(label: Any, low: int, high: int, description: Any = "") -> IntegerField:
    return IntegerField(
        label,
        description=description,
        validators=[
            InputRequired(message=_l("Enter a whole number.")),
            NumberRange(low, high, message=_l("Enter a number from %(min)s to %(max)s.")),
        ],
    )


def _language_fields(texts: dict[str, tuple[Any, type[Field], int]]) -> dict[str, Any]:
    """`<text>_<language>` fields for each text in each language, in the order the page shows.

    They are made before the forms' other fields: a form lists its fields (and the error
    summary its errors) in the order they were made, and the pages show the texts first.
    """
    return {
        f"{text}_{language}": kind(
            label, validators=[Optional(), Length(max=max_length)], render_kw={"lang": language}
        )
        for language in LANGUAGES
        for text, (label, kind, max_length) in texts.items()
    }


SERVICE_TEXT_FIELDS: dict[str, tuple[Any, type[Field], int]] = {
    "name": (_l("Name"), StringField, 200),
    "description": (_l("Description"), TextAreaField, 2000),
    "documents": (_l("Documents to bring, one per line"), TextAreaField, 4000),
    "fee": (_l("Fee"), StringField, 300),
}
OFFICE_TEXT_FIELDS: dict[str, tuple[Any, type[Field], int]] = {
    "name": (_l("Name"), StringField, 200),
    "address": (_l("Address"), TextAreaField, 500),
    "directions": (_l("How to get there"), TextAreaField, 2000),
}
_SERVICE_LANGUAGE_FIELDS = _language_fields(SERVICE_TEXT_FIELDS)
_OFFICE_LANGUAGE_FIELDS = _language_fields(OFFICE_TEXT_FIELDS)


class ServiceTypeForm(AdminForm):
    code = StringField(
        _l("Code"),
        description=_l("Used in web addresses and the API, e.g. passport-renewal."),
        validators=[InputRequired(message=_l("Enter a code.")), Length(max=64)],
    )
    duration_minutes = _number(_l("Time at the desk, in minutes"), 5, 480)
    min_notice_hours = _number(
        _l("Minimum notice, in hours"),
        0,
        24 * 60,
        _l("How long before the visit it can be booked."),
    )
    horizon_days = _number(_l("Booking horizon, in days"), 1, 366, _l("How far ahead."))
    cutoff_hours = _number(
        _l("Cancel or change online until, in hours before the visit"), 0, 24 * 30
    )
    max_active_bookings = _number(_l("Active bookings one person (IIN) may hold"), 1, 10)
    iin_window_days = _number(
        _l("One booking per IIN in this many days (0: no such rule)"),
        0,
        366,
        _l("Cancelled and missed bookings count too: cancelling and booking again gains nothing."),
    )
    # The choices are set by the view, with the words of the current language.
    waitlist_mode = RadioField(_l("Waiting list"), validate_choice=False, default="off")
    is_online = BooleanField(_l("Citizens can book it online (otherwise staff only)"))
    offices = CheckboxesField(_l("Offices that offer it"), coerce=int, validate_choice=False)
    detail_sets = CheckboxesField(
        _l("Extra details it collects"),
        validate_choice=False,
    )
    combinable = CheckboxesField(
        _l("May be combined in one visit with"), coerce=int, validate_choice=False
    )
    sort_order = _number(_l("Position in lists"), 0, 10_000)


class OfficeForm(AdminForm):
    code = StringField(
        _l("Code"),
        description=_l("Used in web addresses, e.g. busan. It can't be changed later."),
        validators=[InputRequired(message=_l("Enter a code.")), Length(max=32)],
    )
    reference_prefix = StringField(
        _l("Letters of booking references"),
        description=_l("Three capital letters, e.g. PUS for PUS-7KQ2MX."),
        validators=[InputRequired(message=_l("Enter three letters.")), Length(max=3)],
    )
    ticket_prefix = StringField(
        _l("Letter of queue tickets"),
        description=_l("E.g. B for B-017."),
        validators=[InputRequired(message=_l("Enter a letter.")), Length(max=2)],
    )
    timezone = StringField(
        _l("Time zone"),
        description=_l("IANA name, e.g. Asia/Seoul."),
        validators=[InputRequired(message=_l("Enter the time zone.")), Length(max=64)],
    )
    slot_minutes = _number(
        _l("Length of one slot, in minutes"), 5, 240, _l("Visits take whole slots.")
    )
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])
    email = StringField(_l("Email"), validators=[Optional(), Length(max=254)])
    map_url = StringField(_l("Map link"), validators=[Optional(), Length(max=500)])
    postal_code = StringField(
        _l("Postal code"),
        description=_l("5 digits, shown with the address in Korean."),
        validators=[Optional(), Length(max=10)],
    )
    calls_spoken = BooleanField(_l("Say each call aloud on the waiting-room display"))
    # Checked by the catalog service, which says what is wrong in words of its own.
    call_languages = CheckboxesField(_l("Languages the calls are said in"), validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.call_languages.choices = [(code, LANGUAGE_NAMES[code]) for code in SPOKEN_LANGUAGES]


def _add_fields(form_class: type[FlaskForm], fields: dict[str, Any]) -> None:
    for name, field in fields.items():
        setattr(form_class, name, field)


_add_fields(ServiceTypeForm, _SERVICE_LANGUAGE_FIELDS)
_add_fields(OfficeForm, _OFFICE_LANGUAGE_FIELDS)


def texts_from(form: FlaskForm, text: str) -> dict[str, str]:
    """One text of the form in each language, e.g. {'en': 'Passport', 'ru': 'Паспорт'}."""
    return {language: (form[f"{text}_{language}"].data or "") for language in LANGUAGES}


def fill_texts(form: FlaskForm, text: str, values: dict[str, Any]) -> None:
    """Put a stored text (a string, or a list shown one item per line) into the form."""
    for language in LANGUAGES:
        value = values.get(language, "")
        form[f"{text}_{language}"].data = "\n".join(value) if isinstance(value, list) else value
