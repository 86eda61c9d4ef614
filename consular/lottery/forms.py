"""The entry form: the applicant's details as a booking collects them, and the entrant's
preferences. The lottery service does the real checks; this form carries the values."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, SelectField, StringField

# Not in the type stubs yet (WTForms 3.3 added it and warns on plain tuples).
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import InputRequired

from consular.booking.forms import ApplicantForm, applicant_form_class
from consular.services.details import DetailGroup
from consular.services.lottery import MAX_PREFERENCES

PART_CHOICES = (
    SelectChoice("", _l("Any time of day")),
    SelectChoice("morning", _l("Morning (before 12:00)")),
    SelectChoice("afternoon", _l("Afternoon (from 12:00)")),
)


class EntryFormBase(ApplicantForm):
    """The applicant's details and what they would like from the draw."""

    accept_any = BooleanField(
        _l("If none of my preferences is free, give me any free time of this lottery"),
        default=True,
    )
    wants_waitlist = BooleanField(_l("If I get no seat, I want to join the waiting list"))

    def preference_rows(self) -> list[tuple[int, Field, Field]]:
        """The preference fields in order: (number, day, part of the day)."""
        return [
            (n, self[f"preference_day_{n}"], self[f"preference_part_{n}"])
            for n in range(1, MAX_PREFERENCES + 1)
        ]

    def entry_data(self) -> dict[str, Any]:
        """The values as the lottery service expects them."""
        return self.booking_data() | {
            "preferences": [
                {"day": day.data or None, "part": part.data or None}
                for _n, day, part in self.preference_rows()
            ],
            "accept_any": bool(self.accept_any.data),
            "wants_waitlist": bool(self.wants_waitlist.data),
        }


def entry_form_class(
    groups: list[DetailGroup], day_choices: list[tuple[str, str]]
) -> type[EntryFormBase]:
    """A form class with the applicant's fields, the detail groups and the release's days."""
    attributes: dict[str, Any] = {}
    for n in range(1, MAX_PREFERENCES + 1):
        attributes[f"preference_day_{n}"] = SelectField(
            lazy_pgettext("calendar date", "Day"),
            choices=[
                SelectChoice("", _l("Any day")),
                *(SelectChoice(value, label) for value, label in day_choices),
            ],
            default="",
            # The service checks the days against the release, with a message that says how.
            validate_choice=False,
        )
        attributes[f"preference_part_{n}"] = SelectField(
            _l("Time of day"), choices=list(PART_CHOICES), default="", validate_choice=False
        )
    return type("ReleaseEntryForm", (EntryFormBase, applicant_form_class(groups)), attributes)


def day_choices(days: list[date], label: Any) -> list[tuple[str, str]]:
    """The release's days as choices, labelled in the citizen's language."""
    return [(day.isoformat(), label(day)) for day in days]


class EntryCodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        description=_l("The 6 digits in the email we have just sent."),
        validators=[InputRequired(message=_l("Enter the 6-digit code from the email."))],
        render_kw={
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "maxlength": 6,
            "pattern": "[0-9]*",
        },
    )
