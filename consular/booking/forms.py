"""Forms of the citizen pages. The booking service does the real checks; these forms carry
the values, the CSRF token and the labels, and show the service's messages by each field."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from consular.services.details import DetailGroup

APPLICANT_FIELDS = ("given_name", "family_name", "iin", "passport_number", "email", "phone")


class ApplicantForm(FlaskForm):
    """The applicant's details; detail groups of the chosen services are added per visit."""

    given_name = StringField(
        _l("Given name"),
        description=_l("In Latin letters, exactly as in your passport."),
        render_kw={"autocomplete": "given-name", "spellcheck": "false"},
    )
    family_name = StringField(
        _l("Family name"),
        description=_l("In Latin letters, exactly as in your passport."),
        render_kw={"autocomplete": "family-name", "spellcheck": "false"},
    )
    iin = StringField(
        _l("IIN (individual identification number)"),
        description=_l("12 digits, as in your passport or identity card."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 12},
    )
    passport_number = StringField(
        _l("Passport number"),
        description=_l("One letter and 8 digits, for example N12345678."),
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"},
    )
    email = StringField(
        _l("Email address"),
        description=_l("We send the confirmation code and your booking here."),
        render_kw={"type": "email", "autocomplete": "email", "spellcheck": "false"},
    )
    phone = StringField(
        _l("Phone number"),
        description=_l("A Korean number such as 010-1234-5678, or an international one with +."),
        render_kw={"type": "tel", "autocomplete": "tel"},
    )

    def detail_fields(self) -> list[tuple[DetailGroup, list[Field]]]:
        """The detail fields of this form, grouped as the service defines them."""
        return [
            (group, [self[f"{group.key}__{field.name}"] for field in group.fields])
            for group in getattr(self, "groups", [])
        ]

    def booking_data(self) -> dict[str, Any]:
        """The values as the booking service expects them."""
        details: dict[str, dict[str, str]] = {}
        for group, fields in self.detail_fields():
            details[group.key] = {f.name.split("__", 1)[1]: answer_text(f.data) for f in fields}
        return {
            "applicant": {name: (self[name].data or "") for name in APPLICANT_FIELDS},
            "details": details,
        }

    def attach_errors(self, fields: dict[str, list[str]]) -> list[str]:
        """Put the service's messages by their fields; return those that belong to no field."""
        unplaced: list[str] = []
        for path, messages in fields.items():
            parts = path.split(".")
            name = None
            if parts[0] == "applicant" and len(parts) == 2:
                name = parts[1]
            elif parts[0] == "details" and len(parts) == 3:
                name = f"{parts[1]}__{parts[2]}"
            elif len(parts) == 1:
                name = parts[0]  # a member of the form's own (the days of a wait, say)
            if name is not None and name in self:
                self[name].errors = list(self[name].errors or []) + list(messages)
            else:
                unplaced.extend(messages)
        return unplaced


def answer_text(value: Any) -> str:
    """A field's value as the booking service reads it: a ticked box is "yes"."""
    if isinstance(value, bool):
        return "yes" if value else ""
    return value or ""


def applicant_form_class(groups: list[DetailGroup]) -> type[ApplicantForm]:
    """A form class with the applicant's fields and those of the given detail groups."""
    attributes: dict[str, Any] = {"groups": groups}
    for group in groups:
        for field in group.fields:
            name = f"{group.key}__{field.name}"
            if field.kind == "flag":
                attributes[name] = BooleanField(field.label, description=field.hint or "")
                continue
            input_type = "date" if field.kind in {"date", "past_date", "future_date"} else "text"
            attributes[name] = StringField(
                field.label,
                description=field.hint or "",
                render_kw={"type": input_type, "autocomplete": "off"},
            )
    return type("VisitApplicantForm", (ApplicantForm,), attributes)


class CodeForm(FlaskForm):
    code = StringField(
        _l("Confirmation code"),
        description=_l("The 6 digits in the email we have just sent."),
        validators=[InputRequired(message=_l("Enter the 6-digit code from the email."))],
        render_kw={
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "maxlength": 6,
            "pattern": "[0-9]*",
        },
    )


class EmailCorrectionForm(FlaskForm):
    email = StringField(
        _l("The right email address"),
        description=_l("We send a new code there; the earlier code no longer works."),
        validators=[InputRequired(message=_l("Enter an email address such as name@example.com."))],
        render_kw={"type": "email", "autocomplete": "email", "spellcheck": "false"},
    )


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason (optional)"),
        description=_l("It helps the office plan; you don't have to give one."),
        validators=[Length(max=500, message=_l("Use at most 500 characters."))],
    )


class RescheduleForm(FlaskForm):
    start = HiddenField()


class LookupForm(FlaskForm):
    reference = StringField(
        _l("Booking reference"),
        description=_l("As in your confirmation, for example SEL-7K3QX9."),
        validators=[InputRequired(message=_l("Enter the booking reference."))],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"},
    )
    iin = StringField(
        _l("IIN of the applicant"),
        validators=[InputRequired(message=_l("Enter the IIN given when booking."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 12},
    )
