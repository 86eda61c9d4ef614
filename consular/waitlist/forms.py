"""The form to join the waiting list: the applicant's details as a booking collects them, and
the days the citizen could come. The waitlist service does the real checks."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import StringField

from consular.booking.forms import ApplicantForm, applicant_form_class
from consular.services.details import DetailGroup


class JoinFormBase(ApplicantForm):
    first_day = StringField(
        _l("From"),
        description=_l("The first day you could come."),
        render_kw={"type": "date", "autocomplete": "off"},
    )
    last_day = StringField(
        _l("Until"),
        description=_l("The last day you could come."),
        render_kw={"type": "date", "autocomplete": "off"},
    )

    def join_data(self) -> dict[str, Any]:
        return self.booking_data() | {
            "first_day": self.first_day.data or "",
            "last_day": self.last_day.data or "",
        }


def join_form_class(groups: list[DetailGroup]) -> type[JoinFormBase]:
    """A form class with the applicant's fields, the detail groups and the days."""
    return type("WaitlistJoinForm", (JoinFormBase, applicant_form_class(groups)), {})
